//! A checkbox: a form posts its value ("on") when ticked and nothing when
//! not; JSON carries a bool. Both read as a bool.

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

pub fn serialize<S: Serializer>(ticked: &bool, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bool(*ticked)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    deserializer.deserialize_any(Ticked)
}

struct Ticked;

impl<'de> Visitor<'de> for Ticked {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a checkbox: a bool, or a value when ticked")
    }

    fn visit_bool<E: de::Error>(self, ticked: bool) -> Result<bool, E> {
        Ok(ticked)
    }

    /// A ticked box's value; "false" and "off" as a serialized form writes them.
    fn visit_str<E: de::Error>(self, value: &str) -> Result<bool, E> {
        Ok(!matches!(value.trim(), "" | "false" | "off"))
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(Ticked)
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct Form {
        #[serde(default, with = "super")]
        sudo: bool,
    }

    #[test]
    fn a_checkbox_is_ticked_when_posted_and_not_when_absent() {
        let form: Form = serde_json::from_str(r#"{"sudo":"on"}"#).unwrap();
        assert!(form.sudo);
        let form: Form = serde_json::from_str(r#"{"sudo":true}"#).unwrap();
        assert!(form.sudo);
        let form: Form = serde_json::from_str(r#"{"sudo":"false"}"#).unwrap();
        assert!(!form.sudo);
        let form: Form = serde_json::from_str("{}").unwrap();
        assert!(!form.sudo);
    }
}
