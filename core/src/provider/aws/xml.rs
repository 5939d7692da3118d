//! The little XML that AWS query APIs (STS) and error pages need: the text of
//! named elements.

use quick_xml::Reader;
use quick_xml::events::Event;

/// The text of the first element named `name` (unescaped), if any.
pub(crate) fn first_text(xml: &str, name: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut inside = false;
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                inside = e.local_name().as_ref() == name.as_bytes();
                text.clear();
            }
            Ok(Event::Text(t)) if inside => {
                text.push_str(&t.decode().ok()?);
            }
            Ok(Event::GeneralRef(r)) if inside => {
                let ent = String::from_utf8_lossy(r.as_ref()).to_string();
                text.push_str(match ent.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                });
            }
            Ok(Event::CData(c)) if inside => text.push_str(&String::from_utf8_lossy(&c)),
            Ok(Event::End(e)) if inside && e.local_name().as_ref() == name.as_bytes() => {
                return Some(text);
            }
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_text() {
        let x = "<A><Credentials><AccessKeyId>AK</AccessKeyId><SessionToken>a&amp;b</SessionToken></Credentials></A>";
        assert_eq!(super::first_text(x, "AccessKeyId").as_deref(), Some("AK"));
        assert_eq!(super::first_text(x, "SessionToken").as_deref(), Some("a&b"));
        assert_eq!(super::first_text(x, "Missing"), None);
        assert_eq!(super::first_text("<<<", "A"), None);
    }
}
