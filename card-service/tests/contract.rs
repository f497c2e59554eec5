//! The committed API contract (`openapi.json`) is the one the code generates. Run with
//! `UPDATE_OPENAPI=1` to rewrite it after a deliberate change of the API.

use utoipa::OpenApi;

#[test]
fn the_committed_contract_matches_the_code() {
    let generated = card_service::cards::ApiDoc::openapi().to_pretty_json().unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).expect("card-service/openapi.json is committed");
    assert!(
        committed == generated,
        "card-service/openapi.json differs from the API the code serves; if the change is deliberate, \
         run UPDATE_OPENAPI=1 cargo test -p card-service --test contract and commit the file"
    );
    let doc: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert!(doc["paths"]["/cards/{account_id}"]["get"].is_object());
    assert!(doc["paths"]["/cards/{card_id}/activation"]["post"].is_object());
}
