//! Rules every route enforces at the edge, written into the OpenAPI document once instead of on
//! each schema, so that a client (or a fuzzer) generated from the document sends only what the
//! server takes:
//! - an `id` in the path is a positive integer ([`super::extract::Id`]), and so is every body or
//!   query field named `id` or `…_id` (a record's key; an unknown one is refused, naming it);
//! - no string holds a NUL character ([`super::extract`] refuses it with 422): a string with no
//!   rule of its own gets the pattern [`NO_NUL`];
//! - an integer field holds what its Rust type holds: `uint8` is 0–255, `uint32` 0–4294967295
//!   (utoipa writes the format; the range is written here, as JSON Schema reads ranges).
//!
//! Rules of one type (a serial number's shape, a text's length) are on the type, in crm-core.

use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{ArrayItems, KnownFormat, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{OpenApi, RefOr};

/// Any text without a NUL character.
pub const NO_NUL: &str = r"^[^\x00]*$";

pub fn document_constraints(doc: &mut OpenApi) {
    if let Some(components) = doc.components.as_mut() {
        for schema in components.schemas.values_mut() {
            walk(schema, false);
        }
    }
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            for p in op.parameters.iter_mut().flatten() {
                let key = p.parameter_in == ParameterIn::Path || is_key(&p.name);
                if let Some(schema) = p.schema.as_mut() {
                    walk(schema, key);
                }
            }
            if let Some(body) = op.request_body.as_mut() {
                for content in body.content.values_mut() {
                    if let Some(schema) = content.schema.as_mut() {
                        walk(schema, false);
                    }
                }
            }
        }
    }
}

/// The operations of a path, whatever their method.
pub fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// `id` or `something_id`: a record's key, a positive integer.
pub fn is_key(name: &str) -> bool {
    name == "id" || name.ends_with("_id")
}

fn has(t: &SchemaType, want: Type) -> bool {
    match t {
        SchemaType::Type(t) => *t == want,
        SchemaType::Array(ts) => ts.contains(&want),
        SchemaType::AnyValue => false,
    }
}

/// Applies the rules to a schema and everything inside it; `key` marks a record key.
fn walk(schema: &mut RefOr<Schema>, key: bool) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(o) => {
            if key && has(&o.schema_type, Type::Integer) && o.minimum.is_none() {
                o.minimum = Some(1.into());
            }
            if let Some((min, max)) = integer_range(o.format.as_ref()) {
                o.minimum.get_or_insert(min.into());
                o.maximum.get_or_insert(max.into());
            }
            if has(&o.schema_type, Type::String) && o.pattern.is_none() && o.format.is_none() && o.enum_values.is_none()
            {
                o.pattern = Some(NO_NUL.to_string());
            }
            for (name, property) in o.properties.iter_mut() {
                walk(property, is_key(name));
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                walk(items, key);
            }
        }
        Schema::OneOf(x) => x.items.iter_mut().for_each(|s| walk(s, key)),
        Schema::AnyOf(x) => x.items.iter_mut().for_each(|s| walk(s, key)),
        Schema::AllOf(x) => x.items.iter_mut().for_each(|s| walk(s, key)),
        _ => {}
    }
}

/// The range of a sized integer format.
fn integer_range(format: Option<&SchemaFormat>) -> Option<(i64, i64)> {
    let Some(SchemaFormat::KnownFormat(f)) = format else {
        return None;
    };
    Some(match f {
        KnownFormat::Int8 => (i8::MIN.into(), i8::MAX.into()),
        KnownFormat::Int16 => (i16::MIN.into(), i16::MAX.into()),
        KnownFormat::Int32 => (i32::MIN.into(), i32::MAX.into()),
        KnownFormat::UInt8 => (0, u8::MAX.into()),
        KnownFormat::UInt16 => (0, u16::MAX.into()),
        KnownFormat::UInt32 => (0, u32::MAX.into()),
        KnownFormat::UInt64 => (0, i64::MAX),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::{ObjectBuilder, OpenApiBuilder};

    #[test]
    fn keys_are_positive_and_strings_hold_no_nul() {
        let body = ObjectBuilder::new()
            .property("customer_id", ObjectBuilder::new().schema_type(Type::Integer))
            .property("count", ObjectBuilder::new().schema_type(Type::Integer))
            .property(
                "hours",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::UInt32))),
            )
            .property("name", ObjectBuilder::new().schema_type(Type::String))
            .property(
                "serial",
                ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[0-9]+$")),
            );
        let mut doc = OpenApiBuilder::new()
            .components(Some(
                utoipa::openapi::ComponentsBuilder::new().schema("Body", body).build(),
            ))
            .build();
        document_constraints(&mut doc);
        let json = serde_json::to_value(&doc).unwrap();
        let props = &json["components"]["schemas"]["Body"]["properties"];
        assert_eq!(props["customer_id"]["minimum"], 1);
        assert!(props["count"].get("minimum").is_none(), "only keys");
        assert_eq!(
            (&props["hours"]["minimum"], &props["hours"]["maximum"]),
            (&0.into(), &4294967295u32.into())
        );
        assert_eq!(props["name"]["pattern"], NO_NUL);
        assert_eq!(props["serial"]["pattern"], "^[0-9]+$", "a type's own rule is kept");
    }
}
