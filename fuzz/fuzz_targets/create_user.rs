//! SHOW CREATE USER text: the authentication plugins it names, and the account name parser.
#![no_main]

use db_secret_rotator::db::mysql::create_user::plugins_from_create_user;
use db_secret_rotator::db::mysql::sql::Account;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(plugins) = plugins_from_create_user(text) {
        assert!(plugins.iter().all(|p| !p.is_empty()));
    }
    if let Some(account) = Account::parse(text) {
        let _ = account.sql();
    }
});
