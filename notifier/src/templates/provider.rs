//! The provider's side of an appointment change. The patient's texts address the
//! patient and name the provider; these address the provider and name the
//! patient and the appointment type, so a console full of notices says whose
//! appointment moved. They are in-app only (the hub never mails them), which is
//! why they may carry the type's name.

use super::Text;

pub(super) fn text(template: &str, locale: &str) -> Option<Text> {
    let t = |subject, body| Some(Text { subject, body });
    match (template, locale) {
        ("appointment.booked.provider", "es") => t(
            "Nueva cita",
            "Nueva cita con {patient} ({type}) en {org} el {when}.",
        ),
        ("appointment.booked.provider", "pt") => t(
            "Nova consulta",
            "Nova consulta com {patient} ({type}) em {org}, marcada para {when}.",
        ),
        ("appointment.booked.provider", _) => t(
            "New appointment",
            "New appointment with {patient} ({type}) at {org} on {when}.",
        ),
        ("appointment.rescheduled.provider", "es") => t(
            "Cita cambiada",
            "Su cita con {patient} ({type}) en {org} se ha movido al {when}.",
        ),
        ("appointment.rescheduled.provider", "pt") => t(
            "Consulta remarcada",
            "A sua consulta com {patient} ({type}) em {org} passou para {when}.",
        ),
        ("appointment.rescheduled.provider", _) => t(
            "Appointment moved",
            "Your appointment with {patient} ({type}) at {org} has been moved to {when}.",
        ),
        ("appointment.cancelled.provider", "es") => t(
            "Cita cancelada",
            "Su cita con {patient} ({type}) en {org} del {when} ha sido cancelada.",
        ),
        ("appointment.cancelled.provider", "pt") => t(
            "Consulta cancelada",
            "A sua consulta com {patient} ({type}) em {org} de {when} foi cancelada.",
        ),
        ("appointment.cancelled.provider", _) => t(
            "Appointment cancelled",
            "Your appointment with {patient} ({type}) at {org} on {when} has been cancelled.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{Audience, render};

    #[test]
    fn the_provider_reads_whose_appointment_it_is_in_their_own_zone_and_language() {
        let payload = json!({
            "patient": "Ana Silva", "type": "Follow-up", "org": "Clinica Norte",
            "provider": "Dr. Min Lee",
            // 2026-03-09 13:00Z: 09:00 in New York (EDT), 13:00 in Lisbon (WET).
            "starts_at": 1_773_061_200_000_i64,
        });
        let en = Audience {
            name: "Dr. Min Lee",
            locale: "en",
            time_zone: chrono_tz::America::New_York,
        };
        let pt = Audience {
            name: "Dr. Min Lee",
            locale: "pt",
            time_zone: chrono_tz::Europe::Lisbon,
        };
        let booked = render("appointment.booked.provider", &payload, &en).unwrap();
        assert_eq!(booked.subject, "New appointment");
        assert_eq!(
            booked.text.lines().next().unwrap(),
            "New appointment with Ana Silva (Follow-up) at Clinica Norte on 2026-03-09 09:00 EDT."
        );
        let moved = render("appointment.rescheduled.provider", &payload, &pt).unwrap();
        assert_eq!(moved.subject, "Consulta remarcada");
        assert_eq!(
            moved.text.lines().next().unwrap(),
            "A sua consulta com Ana Silva (Follow-up) em Clinica Norte passou para 2026-03-09 13:00 WET."
        );
        for template in [
            "appointment.booked.provider",
            "appointment.rescheduled.provider",
            "appointment.cancelled.provider",
        ] {
            for audience in [&en, &pt] {
                let r = render(template, &payload, audience).unwrap();
                assert!(!r.text.contains("Dr. Min Lee"), "{template}: {}", r.text);
                assert!(r.text.contains("Ana Silva (Follow-up)"), "{template}");
            }
        }
    }
}
