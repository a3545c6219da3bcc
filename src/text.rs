//! Text helpers every layer may use: the function name in a Lambda ARN, and quoting for the
//! shell commands that reports and remedies print to be pasted.

/// The function name in a Lambda ARN (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`),
/// or the argument itself when it is a name.
pub fn function_name(name_or_arn: &str) -> &str {
    let parts: Vec<&str> = name_or_arn.split(':').collect();
    if parts.len() >= 7 && parts[0] == "arn" && parts[5] == "function" {
        parts[6]
    } else {
        name_or_arn
    }
}

/// Quotes a word for a POSIX shell when it needs it (the switch-back command is copied as is).
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_come_out_of_arns() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:old"),
            "old"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:1:function:old:live"),
            "old"
        );
        assert_eq!(function_name("old"), "old");
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_quote("my/app/db"), "my/app/db");
        assert_eq!(
            shell_quote(r#"{"AutomaticallyAfterDays":30}"#),
            r#"'{"AutomaticallyAfterDays":30}'"#
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
