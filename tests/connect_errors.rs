//! `cheap::connect` refuses what it cannot open without echoing the URL's secrets.

#[tokio::test]
async fn an_unknown_scheme_names_the_scheme_and_not_the_password() {
    let err = match cheap::connect("oracle://admin:hunter2@db.example:1521/prod").await {
        Ok(_) => panic!("an unknown scheme was accepted"),
        Err(e) => e,
    };
    assert!(matches!(err, cheap::CheapError::InvalidInput(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("'oracle'"), "{text}");
    assert!(!text.contains("hunter2"), "the password leaked: {text}");
    assert!(!text.contains("admin"), "the user leaked: {text}");
}
