//! Reading pyts's golden files: the estimator of an `errors.json` case.

/// `Class(k=v, ...)` → the class and its keyword arguments, values verbatim (Python repr), with a
/// numpy scalar unwrapped (`np.int32(8)` → `8`: a numpy integer is an int for pyts).
pub fn parse_estimator(s: &str) -> Result<(String, Vec<(String, String)>), String> {
    let (class, rest) = s.split_once('(').ok_or_else(|| format!("estimator {s:?}"))?;
    let inner = rest.strip_suffix(')').ok_or_else(|| format!("estimator {s:?}"))?;
    let mut args = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None, 0);
    for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, ',') if depth == 0 => {
                let arg = inner[start..i].trim();
                start = i + 1;
                if arg.is_empty() {
                    continue;
                }
                let (k, v) = arg.split_once('=').ok_or_else(|| format!("argument {arg:?} of {s:?}"))?;
                let v = v.trim();
                let v = match v.strip_prefix("np.").and_then(|r| r.split_once('(')) {
                    Some((_, number)) if v.ends_with(')') => number.trim_end_matches(')'),
                    _ => v,
                };
                args.push((k.trim().to_string(), v.to_string()));
            }
            _ => {}
        }
    }
    Ok((class.trim().to_string(), args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_arguments_keep_python_values() {
        let (class, args) =
            parse_estimator("MarkovTransitionField(image_size=np.int32(8), strategy='quantile', sample_range=(-1, 1))")
                .unwrap();
        assert_eq!(class, "MarkovTransitionField");
        let expected = [("image_size", "8"), ("strategy", "'quantile'"), ("sample_range", "(-1, 1)")];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(args, expected);
        assert_eq!(parse_estimator("RecurrencePlot()").unwrap(), ("RecurrencePlot".to_string(), vec![]));
        assert!(parse_estimator("RecurrencePlot").is_err());
        assert!(parse_estimator("RecurrencePlot(3)").is_err());
    }
}
