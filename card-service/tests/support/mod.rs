//! The committed API contract (`openapi.json`) as a test oracle: every response an API test sees
//! is checked against it — the status must be one the operation documents, and the body must
//! match the documented schema, strictly (no undocumented fields, formats such as `uuid` checked).

use serde_json::{json, Value};

/// The contract, loaded from `card-service/openapi.json`.
pub struct Contract {
    doc: Value,
    /// `components`, with every object schema closed to undocumented properties.
    strict_components: Value,
}

/// A response that conforms to the contract.
pub struct Checked {
    /// Its status code.
    pub status: u16,
    /// Its headers.
    pub headers: reqwest::header::HeaderMap,
    /// Its JSON body.
    pub body: Value,
}

impl Checked {
    /// The body as `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone()).expect("the body has the documented shape")
    }

    /// The status and the error code of an error response.
    pub fn error(&self) -> (u16, String) {
        (self.status, self.body["error"]["code"].as_str().expect("an error body has a code").to_string())
    }
}

fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("type") == Some(&json!("object"))
                && map.contains_key("properties")
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), json!(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

impl Contract {
    /// Loads the committed contract.
    pub fn load() -> Self {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("openapi.json")).unwrap();
        let mut strict_components = doc["components"].clone();
        close_objects(&mut strict_components);
        Self { doc, strict_components }
    }

    /// Reads `response` to the end and checks it against what the contract documents for
    /// `method` on the path `template` (for example `GET /cards/{account_id}`).
    pub async fn check(&self, method: &str, template: &str, response: reqwest::Response) -> Checked {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let operation = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(operation.is_object(), "the contract has no operation {method} {template}");
        let documented = &operation["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {template} answered {status}, which the contract does not document (documented: {:?}); body: {text}",
            operation["responses"].as_object().map(|r| r.keys().collect::<Vec<_>>()).unwrap_or_default()
        );
        let Some(schema) = documented["content"]["application/json"].get("schema") else {
            return Checked { status, headers, body: Value::Null };
        };
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(
            content_type.starts_with("application/json"),
            "{method} {template} {status}: content type `{content_type}`, the contract says application/json"
        );
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {template} {status}: the body is not JSON ({e}): {text}"));
        let root = json!({ "components": self.strict_components, "allOf": [schema] });
        let validator = jsonschema::options().should_validate_formats(true).build(&root).expect("a valid schema");
        let errors: Vec<String> =
            validator.iter_errors(&body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{method} {template} {status}: the body breaks the contract: {errors:#?}\n{body:#}");
        Checked { status, headers, body }
    }
}

#[test]
fn the_checker_rejects_what_the_contract_does_not_say() {
    let contract = Contract::load();
    let root = json!({ "components": contract.strict_components, "allOf": [{"$ref": "#/components/schemas/Card"}] });
    let validator = jsonschema::options().should_validate_formats(true).build(&root).unwrap();
    let card = json!({
        "id": "00000000-0000-0000-0000-000000000001",
        "account_id": "00000000-0000-0000-0000-000000000002",
        "holder": "A", "last4": "1234", "status": "active", "image_url": "https://x"
    });
    assert!(validator.is_valid(&card));
    let mut extra = card.clone();
    extra["pan"] = json!("4242424242424242");
    assert!(!validator.is_valid(&extra), "an undocumented field is a breach");
    let mut bad_id = card.clone();
    bad_id["id"] = json!("not-a-uuid");
    assert!(!validator.is_valid(&bad_id), "formats are checked");
    let mut missing = card;
    missing.as_object_mut().unwrap().remove("image_url");
    assert!(!validator.is_valid(&missing), "required fields are required");
}
