//! Message templates per event and locale, rendered at send time in the
//! recipient's language and time zone.
//!
//! Templates are compiled in: a clinic cannot break a reminder by editing a file,
//! and a missing translation falls back to English instead of failing. They carry
//! no clinical detail — an SMS or email leaves the system and may be read by
//! anyone holding the phone — only who, where and when, and links to sign in.

mod provider;

use chrono::TimeZone;
use chrono_tz::Tz;
use serde_json::Value;

/// The texts of one notice for every channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub sms: String,
}

/// Locales with translations; anything else renders in English.
pub const LOCALES: [&str; 3] = ["en", "es", "pt"];

/// Names of every template, for validation and docs. An appointment change has
/// one template for the patient and one (`….provider`) for the provider.
pub const TEMPLATES: [&str; 15] = [
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.cancelled",
    "appointment.booked.provider",
    "appointment.rescheduled.provider",
    "appointment.cancelled.provider",
    "appointment.reminder",
    "message.unread",
    "account.verify_email",
    "account.password_reset",
    "critical.alert",
    "visit.link",
    "org.invite",
    "account.register_attempt",
    "room.referral",
];

struct Text {
    subject: &'static str,
    body: &'static str,
}

fn text(template: &str, locale: &str) -> Option<Text> {
    if let Some(text) = provider::text(template, locale) {
        return Some(text);
    }
    let t = |subject, body| Some(Text { subject, body });
    match (template, locale) {
        ("appointment.booked", "es") => t(
            "Cita confirmada",
            "Hola {name}: su cita con {provider} en {org} está confirmada para el {when}.",
        ),
        ("appointment.booked", "pt") => t(
            "Consulta confirmada",
            "Olá {name}: a sua consulta com {provider} em {org} está confirmada para {when}.",
        ),
        ("appointment.booked", _) => t(
            "Appointment confirmed",
            "Hello {name}, your appointment with {provider} at {org} is confirmed for {when}.",
        ),
        ("appointment.rescheduled", "es") => t(
            "Cita cambiada",
            "Hola {name}: su cita con {provider} en {org} se ha movido al {when}.",
        ),
        ("appointment.rescheduled", "pt") => t(
            "Consulta remarcada",
            "Olá {name}: a sua consulta com {provider} em {org} passou para {when}.",
        ),
        ("appointment.rescheduled", _) => t(
            "Appointment moved",
            "Hello {name}, your appointment with {provider} at {org} has been moved to {when}.",
        ),
        ("appointment.cancelled", "es") => t(
            "Cita cancelada",
            "Hola {name}: su cita con {provider} en {org} del {when} ha sido cancelada.",
        ),
        ("appointment.cancelled", "pt") => t(
            "Consulta cancelada",
            "Olá {name}: a sua consulta com {provider} em {org} de {when} foi cancelada.",
        ),
        ("appointment.cancelled", _) => t(
            "Appointment cancelled",
            "Hello {name}, your appointment with {provider} at {org} on {when} has been cancelled.",
        ),
        ("appointment.reminder", "es") => t(
            "Recordatorio de cita",
            "Recordatorio: tiene una cita con {provider} en {org} el {when}.",
        ),
        ("appointment.reminder", "pt") => t(
            "Lembrete de consulta",
            "Lembrete: tem uma consulta com {provider} em {org} em {when}.",
        ),
        ("appointment.reminder", _) => t(
            "Appointment reminder",
            "Reminder: you have an appointment with {provider} at {org} on {when}.",
        ),
        ("message.unread", "es") => t(
            "Mensajes nuevos",
            "Tiene mensajes nuevos de su equipo en {org}. Inicie sesión para leerlos: {link}",
        ),
        ("message.unread", "pt") => t(
            "Mensagens novas",
            "Tem mensagens novas da sua equipa em {org}. Entre para as ler: {link}",
        ),
        ("visit.link", "es") => t(
            "Su visita por video",
            "Hola {name}: su visita por video con {provider} en {org} es el {when}. Entre desde este enlace en su navegador, sin instalar nada: {link}",
        ),
        ("visit.link", "pt") => t(
            "A sua consulta por vídeo",
            "Olá {name}: a sua consulta por vídeo com {provider} em {org} é a {when}. Entre por este link no navegador, sem instalar nada: {link}",
        ),
        ("visit.link", _) => t(
            "Your video visit",
            "Hello {name}, your video visit with {provider} at {org} is on {when}. Join from this link in your browser, nothing to install: {link}",
        ),
        ("message.unread", _) => t(
            "New messages",
            "You have new messages from your care team at {org}. Sign in to read them: {link}",
        ),
        ("account.verify_email", "es") => t(
            "Confirme su correo",
            "Hola {name}: confirme su dirección de correo con este enlace (válido 24 horas): {link}",
        ),
        ("account.verify_email", "pt") => t(
            "Confirme o seu email",
            "Olá {name}: confirme o seu endereço de email com este link (válido 24 horas): {link}",
        ),
        ("account.verify_email", _) => t(
            "Confirm your email address",
            "Hello {name}, confirm your email address with this link (valid for 24 hours): {link}",
        ),
        ("account.password_reset", "es") => t(
            "Restablecer contraseña",
            "Hola {name}: para elegir una contraseña nueva use este enlace (válido 30 minutos): {link} Si no lo pidió, ignore este mensaje.",
        ),
        ("account.password_reset", "pt") => t(
            "Repor palavra-passe",
            "Olá {name}: para escolher uma palavra-passe nova use este link (válido 30 minutos): {link} Se não o pediu, ignore esta mensagem.",
        ),
        ("account.password_reset", _) => t(
            "Reset your password",
            "Hello {name}, to choose a new password use this link (valid for 30 minutes): {link} If you did not ask for this, ignore this message.",
        ),
        ("critical.alert", "es") => t(
            "Urgente: su equipo médico necesita contactarle",
            "Urgente: su equipo en {org} necesita contactarle. Inicie sesión o llámeles: {link}",
        ),
        ("critical.alert", "pt") => t(
            "Urgente: a sua equipa de saúde precisa de o contactar",
            "Urgente: a sua equipa em {org} precisa de o contactar. Entre ou ligue-lhes: {link}",
        ),
        ("critical.alert", _) => t(
            "Urgent: your care team needs to reach you",
            "Urgent: your care team at {org} needs to reach you. Sign in or call them: {link}",
        ),
        ("org.invite", "es") => t(
            "Invitación a HealthBridge",
            "Hola: {inviter} le invita a unirse a {org} en HealthBridge. Acepte la invitación con este enlace (válido hasta el {until}): {link} Si no la esperaba, ignore este mensaje.",
        ),
        ("org.invite", "pt") => t(
            "Convite para o HealthBridge",
            "Olá: {inviter} convidou-o a juntar-se a {org} no HealthBridge. Aceite o convite por este link (válido até {until}): {link} Se não o esperava, ignore esta mensagem.",
        ),
        ("org.invite", _) => t(
            "You are invited to HealthBridge",
            "Hello, {inviter} invited you to join {org} on HealthBridge. Accept the invitation from this link (valid until {until}): {link} If you did not expect this, ignore this message.",
        ),
        ("room.referral", "es") => t(
            "Nueva derivación",
            "{org} ha derivado un caso a su organización; acéptelo o rechácelo en la consola.",
        ),
        ("room.referral", "pt") => t(
            "Novo encaminhamento",
            "{org} encaminhou um caso para a sua organização; aceite ou recuse na consola.",
        ),
        ("room.referral", _) => t(
            "New referral",
            "{org} referred a case to your organization; accept or decline it in the console.",
        ),
        ("account.register_attempt", "es") => t(
            "Intento de registro con su correo",
            "Hola {name}: alguien intentó crear una cuenta de HealthBridge con su dirección de correo, que ya tiene una. Si fue usted, inicie sesión o restablezca su contraseña: {link} Si no fue usted, ignore este mensaje; su cuenta no ha cambiado.",
        ),
        ("account.register_attempt", "pt") => t(
            "Tentativa de registo com o seu email",
            "Olá {name}: alguém tentou criar uma conta HealthBridge com o seu endereço de email, que já tem uma. Se foi você, entre ou reponha a sua palavra-passe: {link} Se não foi, ignore esta mensagem; a sua conta não mudou.",
        ),
        ("account.register_attempt", _) => t(
            "Someone tried to register with your email address",
            "Hello {name}, someone tried to create a HealthBridge account with your email address, which already has one. If it was you, sign in or reset your password: {link} If it was not you, ignore this message; your account has not changed.",
        ),
        _ => None,
    }
}

fn sms_footer(locale: &str) -> &'static str {
    match locale {
        "es" => " Responda STOP para no recibir SMS.",
        "pt" => " Responda STOP para não receber SMS.",
        _ => " Reply STOP to opt out.",
    }
}

/// Who the notice is for, as far as rendering goes.
#[derive(Debug, Clone)]
pub struct Audience<'a> {
    pub name: &'a str,
    pub locale: &'a str,
    pub time_zone: Tz,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("unknown template {0}")]
    Unknown(String),
}

/// Whether `template` shows a link (`{link}`): every such link must open a page
/// the hub serves.
pub fn shows_link(template: &str) -> bool {
    text(template, "en").is_some_and(|t| t.body.contains("{link}"))
}

/// Renders `template` for `audience` with values from `payload`: `provider`,
/// `patient`, `type` (the appointment type's name), `org`, `inviter`, `link`
/// (strings), `starts_at` and `expires_at` (milliseconds, shown as `{when}` and
/// `{until}` in the recipient's zone).
pub fn render(
    template: &str,
    payload: &Value,
    audience: &Audience<'_>,
) -> Result<Rendered, TemplateError> {
    let locale = if LOCALES.contains(&audience.locale) {
        audience.locale
    } else {
        "en"
    };
    let t = text(template, locale).ok_or_else(|| TemplateError::Unknown(template.to_owned()))?;
    let field = |k: &str| {
        payload
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let when = payload
        .get("starts_at")
        .and_then(Value::as_i64)
        .map(|ms| when(ms, audience.time_zone))
        .unwrap_or_default();
    let until = payload
        .get("expires_at")
        .and_then(Value::as_i64)
        .map(|ms| self::when(ms, audience.time_zone))
        .unwrap_or_default();
    let values = [
        ("name", audience.name.to_owned()),
        ("provider", field("provider")),
        ("patient", field("patient")),
        ("type", field("type")),
        ("org", field("org")),
        ("inviter", field("inviter")),
        ("link", field("link")),
        ("when", when),
        ("until", until),
    ];
    let body = fill(t.body, &values, |s| s.to_owned());
    let html_body = fill(t.body, &values, |s| {
        if s.starts_with("https://") || s.starts_with("http://") {
            format!("<a href=\"{0}\">{0}</a>", escape(s))
        } else {
            escape(s)
        }
    });
    Ok(Rendered {
        subject: t.subject.to_owned(),
        html: format!(
            "<!doctype html><html lang=\"{locale}\"><body><p>{html_body}</p>\
             <p style=\"color:#555;font-size:smaller\">HealthBridge</p></body></html>"
        ),
        sms: format!("{body}{}", sms_footer(locale)),
        text: format!("{body}\n\n-- \nHealthBridge\n"),
    })
}

/// `2026-03-09 09:00 EDT`: unambiguous in every language, in the reader's zone.
fn when(ms: i64, tz: Tz) -> String {
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default()
}

fn fill(template: &str, values: &[(&str, String)], show: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&show_literal(&rest[..open], &show));
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                let value = values
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.as_str());
                out.push_str(&value.map(&show).unwrap_or_default());
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&show_literal(&rest[open..], &show));
                rest = "";
            }
        }
    }
    out.push_str(&show_literal(rest, &show));
    out
}

/// Template text is ours and safe, but goes through the same escaping as values
/// in HTML so a translation with `&` or `<` cannot break the markup.
fn show_literal(s: &str, show: &impl Fn(&str) -> String) -> String {
    if s.starts_with("http") {
        s.to_owned()
    } else {
        show(s)
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn audience(locale: &str) -> Audience<'_> {
        Audience {
            name: "Ana <Silva>",
            locale,
            time_zone: chrono_tz::America::New_York,
        }
    }

    #[test]
    fn every_template_renders_in_every_locale() {
        for template in TEMPLATES {
            for locale in LOCALES {
                let r = render(template, &json!({}), &audience(locale)).unwrap();
                assert!(!r.subject.is_empty() && !r.text.is_empty() && r.sms.contains("STOP"));
                assert!(!r.text.contains('{'), "{template}/{locale}: {}", r.text);
            }
        }
    }

    #[test]
    fn reminder_shows_time_in_the_recipients_zone() {
        let payload = json!({
            "provider": "Dr Rui Costa", "org": "Clinica Norte",
            // 2026-03-09 13:00Z is 09:00 in New York, after the DST change.
            "starts_at": 1_773_061_200_000_i64,
        });
        let r = render("appointment.reminder", &payload, &audience("en")).unwrap();
        assert_eq!(
            r.text.lines().next().unwrap(),
            "Reminder: you have an appointment with Dr Rui Costa at Clinica Norte on 2026-03-09 09:00 EDT."
        );
        let es = render("appointment.reminder", &payload, &audience("es")).unwrap();
        assert!(
            es.sms
                .starts_with("Recordatorio: tiene una cita con Dr Rui Costa")
        );
    }

    #[test]
    fn html_escapes_values_and_links_urls() {
        let payload = json!({ "link": "https://hub.example/reset#token=a&b" });
        let r = render("account.password_reset", &payload, &audience("en")).unwrap();
        assert!(r.html.contains("Ana &lt;Silva&gt;"));
        assert!(
            r.html
                .contains("<a href=\"https://hub.example/reset#token=a&amp;b\">")
        );
        assert!(r.text.contains("https://hub.example/reset#token=a&b"));
    }

    #[test]
    fn invite_names_inviter_org_and_expiry_in_the_invitees_language() {
        let payload = json!({
            "inviter": "Dr Min Lee", "org": "Clinica Norte",
            "link": "https://hub.example/invite#token=abc",
            "expires_at": 1_773_061_200_000_i64,
        });
        let pt = Audience {
            name: "",
            locale: "pt",
            time_zone: Tz::UTC,
        };
        let r = render("org.invite", &payload, &pt).unwrap();
        assert_eq!(r.subject, "Convite para o HealthBridge");
        assert!(
            r.text.starts_with(
                "Olá: Dr Min Lee convidou-o a juntar-se a Clinica Norte no HealthBridge. \
                 Aceite o convite por este link (válido até 2026-03-09 13:00 UTC): \
                 https://hub.example/invite#token=abc"
            ),
            "{}",
            r.text
        );
    }

    #[test]
    fn unknown_locale_falls_back_to_english_and_unknown_template_errors() {
        let r = render("critical.alert", &json!({"org": "X"}), &audience("de")).unwrap();
        assert!(r.subject.starts_with("Urgent"));
        assert_eq!(
            render("nope", &json!({}), &audience("en")),
            Err(TemplateError::Unknown("nope".into()))
        );
    }
}
