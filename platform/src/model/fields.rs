//! The attribute names of a props or outputs type, as serde knows them, without a value of the
//! type: how tests check that a type's schema, its provider and its outputs name the same
//! attributes (a field renamed on one side only fails them).

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// The field names `T` deserializes from (after serde's renames), in declaration order; empty
/// when `T` is not a struct.
pub fn of<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
    let mut names = vec![];
    let _ = T::deserialize(FieldNames { names: &mut names });
    names
}

/// A deserializer that only records the fields a struct asks for, then stops.
struct FieldNames<'a> {
    names: &'a mut Vec<&'static str>,
}

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names recorded")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        self.names.extend_from_slice(fields);
        Err(Stop)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Example {
        cidr_block: String,
        #[serde(rename = "renamed")]
        other: bool,
    }

    #[test]
    fn names_the_fields_serde_reads() {
        assert_eq!(super::of::<Example>(), ["cidr_block", "renamed"]);
        assert!(super::of::<String>().is_empty());
    }
}
