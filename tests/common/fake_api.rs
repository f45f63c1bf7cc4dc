//! A loopback OpenAI-compatible server for tests: `POST /v1/embeddings` (deterministic hashed
//! bag-of-words vectors) and `POST /v1/chat/completions` (echoes the last message), with
//! faults injected per request. Binds 127.0.0.1 only.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Sleep this long before answering (past the client's timeout).
    Delay(Duration),
    /// 429 with `Retry-After: SECS`.
    TooMany(u64),
    /// 500 with a body.
    ServerError,
    /// 200 with a body that is not JSON.
    Malformed,
    /// Close the connection without answering.
    Drop,
}

type Plan = dyn Fn(usize) -> Fault + Send + Sync;
/// The assistant's text for a chat request (the whole JSON body).
pub type Responder = dyn Fn(&Value) -> String + Send + Sync;

/// How the fake server behaves beyond its fault plan, like a llama.cpp server on a CPU.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// `GET /props` answers `{"total_slots": N}` (else 404, as on most servers). Not counted
    /// in [`FakeApi::requests`] and not subject to the plan.
    pub props_slots: Option<usize>,
    /// Chat completions run this many at a time, each taking `work`; the rest queue (and may
    /// time out on the client side while they wait).
    pub slots: Option<usize>,
    pub work: Duration,
    /// A chat request with `response_format` is refused with 400, as by a server without
    /// structured outputs.
    pub refuse_response_format: bool,
}

/// Chat completions being worked on, and the most at once.
#[derive(Debug, Default)]
struct Slots {
    busy: Mutex<usize>,
    freed: Condvar,
    most: AtomicUsize,
}

pub struct FakeApi {
    pub port: u16,
    requests: Arc<AtomicUsize>,
    slots: Arc<Slots>,
    /// Authorization headers seen (to check the key was sent).
    pub auth: Arc<Mutex<Vec<String>>>,
    /// Chat request bodies received (answered ones), in arrival order.
    pub chats: Arc<Mutex<Vec<Value>>>,
}

pub const DIMS: usize = 32;

impl FakeApi {
    /// A server whose `n`-th request (0-based, counting every request) gets `plan(n)`.
    pub fn start(plan: impl Fn(usize) -> Fault + Send + Sync + 'static) -> FakeApi {
        FakeApi::with_chat(plan, echo)
    }

    /// [`FakeApi::start`] whose chat completions are `responder(request body)`.
    pub fn with_chat(
        plan: impl Fn(usize) -> Fault + Send + Sync + 'static,
        responder: impl Fn(&Value) -> String + Send + Sync + 'static,
    ) -> FakeApi {
        FakeApi::with_behaviour(plan, responder, Behaviour::default())
    }

    /// [`FakeApi::with_chat`] behaving as `behaviour` says.
    pub fn with_behaviour(
        plan: impl Fn(usize) -> Fault + Send + Sync + 'static,
        responder: impl Fn(&Value) -> String + Send + Sync + 'static,
        behaviour: Behaviour,
    ) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let auth = Arc::new(Mutex::new(Vec::new()));
        let chats = Arc::new(Mutex::new(Vec::new()));
        let plan: Arc<Plan> = Arc::new(plan);
        let responder: Arc<Responder> = Arc::new(responder);
        let slots = Arc::new(Slots::default());
        let behaviour = Arc::new(behaviour);
        let (r, a, c, sl) = (requests.clone(), auth.clone(), chats.clone(), slots.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, a, c, sl) = (r.clone(), a.clone(), c.clone(), sl.clone());
                let (plan, responder, b) = (plan.clone(), responder.clone(), behaviour.clone());
                std::thread::spawn(move || {
                    let server = Server {
                        requests: &r,
                        auth: &a,
                        chats: &c,
                        plan: plan.as_ref(),
                        responder: responder.as_ref(),
                        behaviour: &b,
                        slots: &sl,
                    };
                    let _ = server.serve(stream);
                });
            }
        });
        FakeApi {
            port,
            requests,
            slots,
            auth,
            chats,
        }
    }

    /// The most chat completions worked on at once (with [`Behaviour::slots`]).
    pub fn most_at_once(&self) -> usize {
        self.slots.most.load(Ordering::SeqCst)
    }

    /// A server with no faults.
    pub fn healthy() -> FakeApi {
        FakeApi::start(|_| Fault::None)
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Requests received so far (faulty ones included).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// The fake embedding of `text`: a hashed bag of lowercase words (FNV-1a), not normalized.
pub fn fake_embedding(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; DIMS];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in word.to_lowercase().bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        v[(h % DIMS as u64) as usize] += if (h >> 32) & 1 == 0 { 1.0 } else { -1.0 };
    }
    if v.iter().all(|&x| x == 0.0) {
        v[0] = 1.0;
    }
    v
}

/// The default chat answer: `echo: ` and the last message.
pub fn echo(request: &Value) -> String {
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    format!("echo: {last}")
}

/// What one connection's thread shares with the others.
struct Server<'a> {
    requests: &'a AtomicUsize,
    auth: &'a Mutex<Vec<String>>,
    chats: &'a Mutex<Vec<Value>>,
    plan: &'a Plan,
    responder: &'a Responder,
    behaviour: &'a Behaviour,
    slots: &'a Slots,
}

impl Server<'_> {
    fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let (requests, auth, plan) = (self.requests, self.auth, self.plan);
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut stream = stream;
        loop {
            // Request line and headers.
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            // Routed without the query string, as real servers ignore parameters they do not use.
            let target = line.split_whitespace().nth(1).unwrap_or("");
            let path = target.split('?').next().unwrap_or("").to_string();
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h)?;
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap_or((h, ""));
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if name.eq_ignore_ascii_case("authorization") {
                    auth.lock().unwrap().push(value.trim().to_string());
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            let (status, extra, text) = if path == "/props" {
                // Not a completion: neither counted nor subject to the plan.
                match self.behaviour.props_slots {
                    Some(n) => (200, String::new(), json!({"total_slots": n}).to_string()),
                    None => (404, String::new(), r#"{"error":"not found"}"#.to_string()),
                }
            } else {
                let n = requests.fetch_add(1, Ordering::SeqCst);
                match plan(n) {
                    Fault::Drop => return Ok(()),
                    Fault::Delay(d) => {
                        std::thread::sleep(d);
                        self.answer(&path, &body)
                    }
                    Fault::TooMany(secs) => (
                        429,
                        format!("Retry-After: {secs}\r\n"),
                        r#"{"error":"rate limited"}"#.to_string(),
                    ),
                    Fault::ServerError => {
                        (500, String::new(), r#"{"error":"internal"}"#.to_string())
                    }
                    Fault::Malformed => (
                        200,
                        String::new(),
                        r#"{"data": [ {"index": 0, "embe"#.to_string(),
                    ),
                    Fault::None => self.answer(&path, &body),
                }
            };
            let reason = match status {
                200 => "OK",
                429 => "Too Many Requests",
                404 => "Not Found",
                400 => "Bad Request",
                _ => "Internal Server Error",
            };
            write!(
            stream,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{text}",
            text.len()
        )?;
            stream.flush()?;
        }
    }

    fn answer(&self, path: &str, body: &[u8]) -> (u16, String, String) {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return (400, String::new(), r#"{"error":"bad json"}"#.into());
        };
        match path {
            "/v1/embeddings" => {
                let inputs: Vec<String> = match &request["input"] {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a
                        .iter()
                        .map(|v| v.as_str().unwrap_or("").to_string())
                        .collect(),
                    _ => return (400, String::new(), r#"{"error":"no input"}"#.into()),
                };
                if inputs.iter().any(String::is_empty) {
                    return (400, String::new(), r#"{"error":"empty input"}"#.into());
                }
                // Reversed order, so the client must sort by index.
                let data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .rev()
                .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": fake_embedding(t)}))
                .collect();
                (
                    200,
                    String::new(),
                    json!({"object": "list", "data": data, "model": request["model"]}).to_string(),
                )
            }
            "/v1/chat/completions" => {
                if self.behaviour.refuse_response_format && request.get("response_format").is_some()
                {
                    return (
                        400,
                        String::new(),
                        r#"{"error":"unknown field: response_format"}"#.into(),
                    );
                }
                if let Some(slots) = self.behaviour.slots {
                    self.work_in_a_slot(slots);
                }
                let content = (self.responder)(&request);
                self.chats.lock().unwrap().push(request);
                let reply = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]});
                (200, String::new(), reply.to_string())
            }
            _ => (404, String::new(), r#"{"error":"not found"}"#.into()),
        }
    }

    /// Waits for one of `slots` to be free, works in it for `behaviour.work`, frees it.
    fn work_in_a_slot(&self, slots: usize) {
        let s = self.slots;
        let mut busy = s.busy.lock().unwrap();
        while *busy >= slots {
            busy = s.freed.wait(busy).unwrap();
        }
        *busy += 1;
        s.most.fetch_max(*busy, Ordering::SeqCst);
        drop(busy);
        std::thread::sleep(self.behaviour.work);
        *s.busy.lock().unwrap() -= 1;
        s.freed.notify_one();
    }
}
