//! Words of text written without spaces between them (Chinese, Japanese), for slice names.
//!
//! Splitting on punctuation leaves whole clauses there. Runs of one script are split apart:
//! hiragana runs (particles and inflections: の, を, したい) are dropped, katakana runs
//! (loanwords: パスワード) and Han runs are kept. With the `cjk` feature, Han runs of Chinese
//! text are cut into words by jieba's dictionary (退款 / 什么 / 时候); without it, and in
//! Japanese text (it has kana), a Han run stays whole (再設定).

/// The writing systems told apart here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Han,
    Hiragana,
    Katakana,
    Other,
}

fn script(c: char) -> Script {
    match c {
        '\u{3040}'..='\u{309F}' => Script::Hiragana,
        // Katakana, its phonetic extensions, and the long-vowel mark ー.
        '\u{30A0}'..='\u{30FF}' | '\u{31F0}'..='\u{31FF}' | '\u{FF66}'..='\u{FF9F}' => {
            Script::Katakana
        }
        '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{323AF}' => Script::Han,
        _ => Script::Other,
    }
}

/// True when `word` has a Han, hiragana or katakana character.
pub fn has_cjk(word: &str) -> bool {
    word.chars().any(|c| script(c) != Script::Other)
}

/// Calls `word` with each naming word of `piece`, a run of letters and digits: `piece` itself
/// when it has no CJK character, else its script runs as described in the module comment.
pub fn for_each_word<'t>(piece: &'t str, mut word: impl FnMut(&'t str)) {
    if !has_cjk(piece) {
        if !piece.is_empty() {
            word(piece);
        }
        return;
    }
    // A Chinese dictionary would cut Japanese kanji compounds apart.
    let japanese = piece
        .chars()
        .any(|c| matches!(script(c), Script::Hiragana | Script::Katakana));
    let mut start = 0;
    let mut current = None;
    for (at, c) in piece.char_indices() {
        let s = script(c);
        if current.is_some_and(|run| run != s) {
            emit_run(&piece[start..at], current.unwrap(), japanese, &mut word);
            start = at;
        }
        current = Some(s);
    }
    if let Some(run) = current {
        emit_run(&piece[start..], run, japanese, &mut word);
    }
}

fn emit_run<'t>(run: &'t str, script: Script, japanese: bool, word: &mut impl FnMut(&'t str)) {
    match script {
        Script::Hiragana => {}
        Script::Han if !japanese => cut_chinese(run, word),
        Script::Han | Script::Katakana | Script::Other => word(run),
    }
}

#[cfg(feature = "cjk")]
fn cut_chinese<'t>(run: &'t str, word: &mut impl FnMut(&'t str)) {
    use std::sync::OnceLock;
    // Loading the dictionary takes a fraction of a second: once, and only for CJK text.
    static JIEBA: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    for token in JIEBA.get_or_init(jieba_rs::Jieba::new).cut(run, true) {
        word(token.word);
    }
}

#[cfg(not(feature = "cjk"))]
fn cut_chinese<'t>(run: &'t str, word: &mut impl FnMut(&'t str)) {
    word(run);
}

/// Chinese function words (NLTK's list): never a slice's name.
pub fn is_stop_word(word: &str) -> bool {
    super::is_chinese_stop_word(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        let mut out = vec![];
        for piece in text.split(|c: char| !c.is_alphanumeric()) {
            for_each_word(piece, |w| out.push(w));
        }
        out
    }

    #[test]
    fn text_without_cjk_is_left_alone() {
        assert_eq!(words("reset my password"), ["reset", "my", "password"]);
    }

    #[test]
    fn japanese_keeps_kanji_and_katakana_runs_and_drops_hiragana() {
        assert_eq!(
            words("パスワードを忘れたので再設定したい"),
            ["パスワード", "忘", "再設定"]
        );
        assert_eq!(words("iPhone15の画面"), ["iPhone15", "画面"]);
    }

    #[cfg(feature = "cjk")]
    #[test]
    fn chinese_is_cut_into_dictionary_words() {
        assert_eq!(
            words("我想申请退款，请问怎么操作？"),
            ["我", "想", "申请", "退款", "请问", "怎么", "操作"]
        );
        assert!(is_stop_word("怎么"));
    }

    #[cfg(not(feature = "cjk"))]
    #[test]
    fn chinese_clauses_stay_whole_without_the_feature() {
        assert_eq!(
            words("我想申请退款，请问怎么操作？"),
            ["我想申请退款", "请问怎么操作"]
        );
    }
}
