//! Real servers for tests, not mocks of our own code: Python's aiosmtpd as the
//! SMTP server, and a local HTTP server speaking Twilio's Messages API. Built only
//! for tests (`test-support` feature), so the shipped binaries carry neither.

pub mod smtp_sink;
pub mod twilio_standin;
