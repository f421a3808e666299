//! The channel of last resort when no provider is configured (the embedded
//! default): each message is appended as one JSON line to a file in the data
//! directory, readable only by the hub's user. Nothing is silently dropped, and a
//! developer can read exactly what would have been sent.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde_json::json;

use super::{BoxFuture, EmailSink, OutgoingEmail, SmsSink};
use crate::{delivery_error::DeliveryError, phone::PhoneNumber};

pub struct FileSink {
    path: PathBuf,
    file: Mutex<File>,
}

impl FileSink {
    /// Opens (creating) `<dir>/<name>.jsonl` with mode 0600 in a 0700 directory.
    pub fn open(dir: &Path, name: &str) -> Result<Self, String> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(format!("{name}.jsonl"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&self, record: serde_json::Value) -> Result<(), DeliveryError> {
        let mut line = record.to_string();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| {
                DeliveryError::Transient(format!("cannot write {}: {e}", self.path.display()))
            })
    }
}

impl EmailSink for FileSink {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn send<'a>(
        &'a self,
        email: &'a OutgoingEmail<'a>,
    ) -> BoxFuture<'a, Result<Option<String>, DeliveryError>> {
        Box::pin(async move {
            self.append(json!({
                "to": email.to, "subject": email.subject, "text": email.text,
                "html": email.html, "message_id": email.message_id,
                "at": chrono::Utc::now().to_rfc3339(),
            }))?;
            Ok(Some(format!("file:{}", email.message_id)))
        })
    }
}

impl SmsSink for FileSink {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn send<'a>(
        &'a self,
        to: &'a PhoneNumber,
        body: &'a str,
    ) -> BoxFuture<'a, Result<String, DeliveryError>> {
        Box::pin(async move {
            let id = format!("file-{}", uuid::Uuid::now_v7().simple());
            self.append(json!({
                "to": to.as_str(), "body": body, "id": id,
                "at": chrono::Utc::now().to_rfc3339(),
            }))?;
            Ok(id)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn appends_private_json_lines() {
        let dir = std::env::temp_dir().join(format!("hb-file-sink-{}", uuid::Uuid::now_v7()));
        let sink = FileSink::open(&dir, "sms").unwrap();
        let to = PhoneNumber::parse("+14155550100").unwrap();
        SmsSink::send(&sink, &to, "one").await.unwrap();
        SmsSink::send(&sink, &to, "two").await.unwrap();
        let text = fs::read_to_string(sink.path()).unwrap();
        let bodies: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["body"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(bodies, ["one", "two"]);
        let mode = fs::metadata(sink.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_dir_all(dir).unwrap();
    }
}
