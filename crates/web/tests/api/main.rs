//! Black-box HTTP tests: a real server on port 0 over a fresh SQLite file or PostgreSQL
//! database, driven with real HTTP. Every test runs on both databases (`sqlite::…`,
//! `postgres::…`). Time is a settable clock: no test sleeps.

mod helpers;

mod access;
mod accounts;
mod audit_admin;
mod audit_auth;
mod audit_pages;
mod catalogue;
mod components;
mod networks;
mod platform;
mod recalls;
mod records;
mod sign_in;
