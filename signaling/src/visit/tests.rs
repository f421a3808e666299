use serde_json::json;

use super::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
/// The scheduled start of the fixture visit.
const T0: i64 = 1_800_000_000_000;

const H: &str = "host-1";
const P: &str = "patient-1";
const G: &str = "guest-1";

fn pid(id: &str) -> ParticipantId {
    ParticipantId::from(id)
}
fn host() -> Actor {
    Actor::participant(H, Role::Host)
}
fn patient() -> Actor {
    Actor::participant(P, Role::Patient)
}
fn guest() -> Actor {
    Actor::participant(G, Role::Guest)
}
fn system() -> Actor {
    Actor::System
}
fn policy() -> VisitPolicy {
    VisitPolicy::default()
}
fn new_p(id: &str, role: Role) -> NewParticipant {
    NewParticipant {
        id: pid(id),
        role,
        user_id: Some(format!("user-{id}")),
    }
}

fn scheduled() -> Visit {
    Visit::create(
        VisitId::from("visit-1"),
        T0,
        vec![
            new_p(H, Role::Host),
            new_p(P, Role::Patient),
            new_p(G, Role::Guest),
        ],
        &system(),
        T0 - 24 * HOUR,
    )
    .unwrap()
    .visit
}
/// The patient has waited since T0 - 5 min.
fn waiting() -> Visit {
    scheduled()
        .join(&patient(), &policy(), T0 - 5 * MIN)
        .unwrap()
        .visit
}
/// Patient and guest both waiting.
fn two_waiting() -> Visit {
    waiting()
        .join(&guest(), &policy(), T0 - 4 * MIN)
        .unwrap()
        .visit
}
/// The host admitted the patient at T0.
fn live() -> Visit {
    waiting().admit(&host(), &pid(P), T0).unwrap().visit
}
/// The host started alone at T0 - 2 min; nobody else here.
fn started_alone() -> Visit {
    scheduled().start(&host(), T0 - 2 * MIN).unwrap().visit
}
fn ended() -> Visit {
    live().end(&host(), T0 + 20 * MIN).unwrap().visit
}
fn no_show() -> Visit {
    scheduled()
        .mark_no_show(&system(), &policy(), T0 + 15 * MIN)
        .unwrap()
        .visit
}
fn cancelled() -> Visit {
    scheduled().cancel(&host(), T0 - HOUR).unwrap().visit
}
/// The patient joined and left again before anyone admitted them.
fn joined_and_left() -> Visit {
    waiting().leave(&patient(), T0 - 3 * MIN).unwrap().visit
}
fn declined() -> Visit {
    waiting().decline(&host(), &pid(P), T0 - MIN).unwrap().visit
}

fn state_of(v: &Visit, id: &str) -> ParticipantState {
    v.participant(&pid(id)).unwrap().state
}
fn kinds(t: &Transition) -> Vec<&'static str> {
    t.events.iter().map(|e| e.kind.name()).collect()
}
fn seqs(t: &Transition) -> Vec<u64> {
    t.events.iter().map(|e| e.seq).collect()
}

/// Every command, for the tables below.
#[derive(Debug, Clone)]
enum Cmd {
    Join,
    Admit(&'static str),
    Decline(&'static str),
    Start,
    Leave,
    End,
    NoShow,
    Cancel,
    Invite(&'static str, Role),
}

fn run(v: &Visit, actor: &Actor, cmd: &Cmd, now: i64) -> Result<Transition, VisitError> {
    match cmd {
        Cmd::Join => v.join(actor, &policy(), now),
        Cmd::Admit(id) => v.admit(actor, &pid(id), now),
        Cmd::Decline(id) => v.decline(actor, &pid(id), now),
        Cmd::Start => v.start(actor, now),
        Cmd::Leave => v.leave(actor, now),
        Cmd::End => v.end(actor, now),
        Cmd::NoShow => v.mark_no_show(actor, &policy(), now),
        Cmd::Cancel => v.cancel(actor, now),
        Cmd::Invite(id, role) => v.invite(actor, new_p(id, *role), now),
    }
}

// ---- creation ----------------------------------------------------------

#[test]
fn create_invites_everyone_and_emits_visit_created() {
    let t = Visit::create(
        VisitId::from("visit-1"),
        T0,
        vec![new_p(H, Role::Host), new_p(P, Role::Patient)],
        &host(),
        T0 - HOUR,
    )
    .unwrap();
    let v = &t.visit;
    assert_eq!(v.state, VisitState::Scheduled);
    assert_eq!(v.created_at_ms, T0 - HOUR);
    assert_eq!(v.last_seq, 1);
    assert!(
        v.participants
            .iter()
            .all(|p| p.state == ParticipantState::Invited)
    );
    assert_eq!(kinds(&t), ["visit.created"]);
    let e = &t.events[0];
    assert_eq!(
        (e.seq, e.at_ms, e.actor.clone()),
        (1, T0 - HOUR, Some(pid(H)))
    );
    assert_eq!(
        e.kind,
        VisitEventKind::VisitCreated {
            scheduled_start_ms: T0,
            participants: vec![
                ParticipantRef {
                    participant_id: pid(H),
                    role: Role::Host
                },
                ParticipantRef {
                    participant_id: pid(P),
                    role: Role::Patient
                },
            ],
        }
    );
    let by_system = Visit::create(
        VisitId::from("visit-2"),
        T0,
        vec![new_p(H, Role::Host), new_p(P, Role::Patient)],
        &system(),
        0,
    )
    .unwrap();
    assert_eq!(
        by_system.events[0].actor, None,
        "the system is no participant"
    );
}

#[test]
fn create_refuses_bad_participant_lists_and_non_hosts() {
    let id = || VisitId::from("v");
    let cases: Vec<(&str, Vec<NewParticipant>, Actor, &str)> = vec![
        (
            "no host",
            vec![new_p(P, Role::Patient)],
            system(),
            "invalid_participants",
        ),
        (
            "no patient",
            vec![new_p(H, Role::Host), new_p(G, Role::Guest)],
            system(),
            "invalid_participants",
        ),
        (
            "duplicate id",
            vec![
                new_p(H, Role::Host),
                new_p(P, Role::Patient),
                new_p(P, Role::Guest),
            ],
            system(),
            "duplicate_participant",
        ),
        (
            "patient creates",
            vec![new_p(H, Role::Host), new_p(P, Role::Patient)],
            patient(),
            "not_host",
        ),
        (
            "stranger creates",
            vec![new_p(H, Role::Host), new_p(P, Role::Patient)],
            Actor::participant("someone", Role::Host),
            "not_a_participant",
        ),
        (
            "patient claims host",
            vec![new_p(H, Role::Host), new_p(P, Role::Patient)],
            Actor::participant(P, Role::Host),
            "role_mismatch",
        ),
    ];
    for (label, participants, actor, code) in cases {
        let err = Visit::create(id(), T0, participants, &actor, 0).unwrap_err();
        assert_eq!(err.code(), code, "{label}");
    }
}

// ---- legal transitions -------------------------------------------------

#[test]
fn patient_join_moves_scheduled_to_waiting() {
    let before = scheduled();
    let t = before.join(&patient(), &policy(), T0 - 5 * MIN).unwrap();
    assert_eq!(t.visit.state, VisitState::Waiting);
    assert_eq!(state_of(&t.visit, P), ParticipantState::Waiting);
    assert_eq!(t.visit.first_waiting_at_ms, Some(T0 - 5 * MIN));
    let p = t.visit.participant(&pid(P)).unwrap();
    assert_eq!(p.waiting_since_ms, Some(T0 - 5 * MIN));
    assert_eq!(kinds(&t), ["visit.patient_waiting"]);
    assert_eq!(seqs(&t), [2]);
    assert_eq!(t.events[0].actor, Some(pid(P)));
    assert_eq!(
        t.events[0].kind,
        VisitEventKind::PatientWaiting(ParticipantRef {
            participant_id: pid(P),
            role: Role::Patient
        })
    );
}

#[test]
fn join_opens_exactly_at_the_window() {
    let opens = T0 - VisitPolicy::DEFAULT_JOIN_OPENS_BEFORE_MS;
    assert!(scheduled().join(&patient(), &policy(), opens).is_ok());
    let err = scheduled()
        .join(&patient(), &policy(), opens - 1)
        .unwrap_err();
    assert_eq!(
        err,
        VisitError::TooEarly {
            allowed_at_ms: opens
        }
    );
}

#[test]
fn guest_waits_like_a_patient() {
    let t = scheduled().join(&guest(), &policy(), T0).unwrap();
    assert_eq!(t.visit.state, VisitState::Waiting);
    assert_eq!(
        t.events[0].kind,
        VisitEventKind::PatientWaiting(ParticipantRef {
            participant_id: pid(G),
            role: Role::Guest
        })
    );
}

#[test]
fn joining_again_while_waiting_or_admitted_changes_nothing() {
    for (v, actor) in [
        (waiting(), patient()),
        (live(), patient()),
        (live(), host()),
    ] {
        let t = v.join(&actor, &policy(), T0 + MIN).unwrap();
        assert!(t.is_noop());
        assert_eq!(t.visit, v);
    }
}

#[test]
fn admitting_from_the_waiting_room_starts_the_visit() {
    let t = waiting().admit(&host(), &pid(P), T0).unwrap();
    let v = &t.visit;
    assert_eq!(v.state, VisitState::Live);
    assert_eq!(kinds(&t), ["visit.started", "visit.admitted"]);
    assert_eq!(seqs(&t), [3, 4]);
    assert_eq!(v.last_seq, 4);
    assert!(t.events.iter().all(|e| e.actor == Some(pid(H))));
    assert_eq!(v.started_at_ms, Some(T0));
    assert_eq!(v.first_admitted_at_ms, Some(T0));
    assert_eq!(state_of(v, H), ParticipantState::Admitted);
    assert_eq!(state_of(v, P), ParticipantState::Admitted);
    assert_eq!(
        t.events[1].kind,
        VisitEventKind::Admitted {
            participant: ParticipantRef {
                participant_id: pid(P),
                role: Role::Patient
            },
            waited_ms: 5 * MIN,
        }
    );
}

#[test]
fn admitting_into_a_live_visit_emits_only_admitted() {
    let v = live()
        .join(&guest(), &policy(), T0 + 2 * MIN)
        .unwrap()
        .visit;
    assert_eq!(
        v.state,
        VisitState::Live,
        "a late guest waits inside a live visit"
    );
    let t = v.admit(&host(), &pid(G), T0 + 3 * MIN).unwrap();
    assert_eq!(kinds(&t), ["visit.admitted"]);
    assert_eq!(t.visit.started_at_ms, Some(T0), "start time is kept");
    assert_eq!(
        t.visit.first_admitted_at_ms,
        Some(T0),
        "first admission is kept"
    );
    assert!(matches!(
        t.events[0].kind,
        VisitEventKind::Admitted { waited_ms, .. } if waited_ms == MIN
    ));
}

#[test]
fn host_starts_alone_then_admits() {
    let t = waiting().start(&host(), T0 - 2 * MIN).unwrap();
    assert_eq!(kinds(&t), ["visit.started"]);
    assert_eq!(t.visit.state, VisitState::Live);
    assert_eq!(state_of(&t.visit, H), ParticipantState::Admitted);
    assert_eq!(
        state_of(&t.visit, P),
        ParticipantState::Waiting,
        "starting admits nobody else"
    );
    let t = t.visit.admit(&host(), &pid(P), T0).unwrap();
    assert_eq!(kinds(&t), ["visit.admitted"]);

    let t = scheduled().start(&host(), T0 - 10 * MIN).unwrap();
    assert_eq!(t.visit.state, VisitState::Live);
    assert_eq!(t.visit.started_at_ms, Some(T0 - 10 * MIN));
}

#[test]
fn declining_the_last_waiting_participant_returns_to_scheduled() {
    let t = waiting().decline(&host(), &pid(P), T0).unwrap();
    assert_eq!(kinds(&t), ["visit.declined"]);
    assert_eq!(t.visit.state, VisitState::Scheduled);
    assert_eq!(state_of(&t.visit, P), ParticipantState::Declined);

    let t = two_waiting().decline(&host(), &pid(G), T0).unwrap();
    assert_eq!(
        t.visit.state,
        VisitState::Waiting,
        "the patient still waits"
    );

    let v = live().join(&guest(), &policy(), T0 + MIN).unwrap().visit;
    let t = v.decline(&host(), &pid(G), T0 + 2 * MIN).unwrap();
    assert_eq!(t.visit.state, VisitState::Live);
}

#[test]
fn leaving_the_waiting_room_and_coming_back() {
    let t = waiting().leave(&patient(), T0 - 3 * MIN).unwrap();
    assert_eq!(t.visit.state, VisitState::Scheduled);
    assert_eq!(
        t.events[0].kind,
        VisitEventKind::ParticipantLeft {
            participant: ParticipantRef {
                participant_id: pid(P),
                role: Role::Patient
            },
            from: ParticipantState::Waiting,
        }
    );
    assert_eq!(t.visit.first_waiting_at_ms, Some(T0 - 5 * MIN));
    let back = t.visit.join(&patient(), &policy(), T0 - MIN).unwrap();
    assert_eq!(back.visit.state, VisitState::Waiting);
    assert_eq!(
        back.visit.first_waiting_at_ms,
        Some(T0 - 5 * MIN),
        "the first arrival is kept"
    );
    let p = back.visit.participant(&pid(P)).unwrap();
    assert_eq!((p.waiting_since_ms, p.left_at_ms), (Some(T0 - MIN), None));
}

#[test]
fn a_patient_who_leaves_a_live_visit_waits_again_to_come_back() {
    let t = live().leave(&patient(), T0 + 5 * MIN).unwrap();
    assert_eq!(
        t.visit.state,
        VisitState::Live,
        "leaving does not end the visit"
    );
    assert!(matches!(
        t.events[0].kind,
        VisitEventKind::ParticipantLeft {
            from: ParticipantState::Admitted,
            ..
        }
    ));
    let back = t.visit.join(&patient(), &policy(), T0 + 6 * MIN).unwrap();
    assert_eq!(state_of(&back.visit, P), ParticipantState::Waiting);
    assert_eq!(back.visit.state, VisitState::Live);
    assert_eq!(
        back.visit.check_media_access(&pid(P)).unwrap_err().code(),
        "not_admitted"
    );
    let again = back.visit.admit(&host(), &pid(P), T0 + 7 * MIN).unwrap();
    assert_eq!(kinds(&again), ["visit.admitted"]);
}

#[test]
fn a_host_leaves_and_rejoins_without_waiting() {
    let v = live().leave(&host(), T0 + 5 * MIN).unwrap().visit;
    assert_eq!(v.state, VisitState::Live);
    let t = v.join(&host(), &policy(), T0 + 6 * MIN).unwrap();
    assert_eq!(state_of(&t.visit, H), ParticipantState::Admitted);
    assert_eq!(
        t.events[0].kind,
        VisitEventKind::Admitted {
            participant: ParticipantRef {
                participant_id: pid(H),
                role: Role::Host
            },
            waited_ms: 0,
        }
    );
}

#[test]
fn a_second_host_joins_a_live_visit_directly() {
    let v = live()
        .invite(&host(), new_p("host-2", Role::Host), T0 + MIN)
        .unwrap()
        .visit;
    let h2 = Actor::participant("host-2", Role::Host);
    let t = v.join(&h2, &policy(), T0 + 2 * MIN).unwrap();
    assert_eq!(state_of(&t.visit, "host-2"), ParticipantState::Admitted);
    let t = t.visit.end(&h2, T0 + 30 * MIN).unwrap();
    assert_eq!(t.visit.state, VisitState::Ended);
}

#[test]
fn ending_reports_duration_and_wait_and_moves_everyone_out() {
    let v = live().join(&guest(), &policy(), T0 + MIN).unwrap().visit;
    let t = v.end(&host(), T0 + 20 * MIN).unwrap();
    let v = &t.visit;
    assert_eq!(v.state, VisitState::Ended);
    assert_eq!(v.ended_at_ms, Some(T0 + 20 * MIN));
    assert_eq!(kinds(&t), ["visit.ended"]);
    assert_eq!(
        t.events[0].kind,
        VisitEventKind::Ended {
            duration_ms: 20 * MIN,
            waited_ms: Some(5 * MIN),
        }
    );
    for id in [H, P, G] {
        let p = v.participant(&pid(id)).unwrap();
        assert_eq!(p.state, ParticipantState::Left, "{id}");
        assert_eq!(p.left_at_ms, Some(T0 + 20 * MIN), "{id}");
    }
}

#[test]
fn ending_without_any_admission_has_no_wait() {
    let t = started_alone().end(&system(), T0 + MIN).unwrap();
    assert_eq!(
        t.events[0].kind,
        VisitEventKind::Ended {
            duration_ms: 3 * MIN,
            waited_ms: None,
        }
    );
    assert_eq!(t.events[0].actor, None, "the system ended it");
}

#[test]
fn wait_counts_from_first_arrival_to_first_admission() {
    // The host started early; the patient arrived later and waited 4 minutes.
    let v = started_alone()
        .join(&patient(), &policy(), T0 + MIN)
        .unwrap()
        .visit;
    let v = v.admit(&host(), &pid(P), T0 + 5 * MIN).unwrap().visit;
    let t = v.end(&host(), T0 + 30 * MIN).unwrap();
    assert_eq!(
        t.events[0].kind,
        VisitEventKind::Ended {
            duration_ms: 32 * MIN,
            waited_ms: Some(4 * MIN),
        }
    );
}

#[test]
fn durations_never_go_negative_when_the_clock_steps_back() {
    let t = live().end(&host(), T0 - HOUR).unwrap();
    assert!(matches!(
        t.events[0].kind,
        VisitEventKind::Ended { duration_ms: 0, .. }
    ));
}

#[test]
fn no_show_exactly_at_the_end_of_the_grace_period() {
    let at = T0 + VisitPolicy::DEFAULT_NO_SHOW_GRACE_MS;
    for actor in [system(), host()] {
        let t = scheduled().mark_no_show(&actor, &policy(), at).unwrap();
        assert_eq!(t.visit.state, VisitState::NoShow);
        assert_eq!(t.visit.ended_at_ms, Some(at));
        assert_eq!(kinds(&t), ["visit.no_show"]);
    }
    let err = scheduled()
        .mark_no_show(&system(), &policy(), at - 1)
        .unwrap_err();
    assert_eq!(err, VisitError::TooEarly { allowed_at_ms: at });
}

#[test]
fn grace_period_comes_from_the_policy() {
    let strict = VisitPolicy {
        join_opens_before_ms: 0,
        no_show_grace_ms: 0,
    };
    assert!(scheduled().mark_no_show(&system(), &strict, T0).is_ok());
    assert_eq!(
        scheduled()
            .join(&patient(), &strict, T0 - 1)
            .unwrap_err()
            .code(),
        "too_early"
    );
}

#[test]
fn cancelling_before_live_moves_waiting_people_out() {
    let t = scheduled().cancel(&system(), T0 - HOUR).unwrap();
    assert_eq!(t.visit.state, VisitState::Cancelled);
    assert_eq!(kinds(&t), ["visit.cancelled"]);

    let t = two_waiting().cancel(&host(), T0).unwrap();
    assert_eq!(t.visit.state, VisitState::Cancelled);
    assert_eq!(state_of(&t.visit, P), ParticipantState::Left);
    assert_eq!(state_of(&t.visit, G), ParticipantState::Left);
    assert_eq!(state_of(&t.visit, H), ParticipantState::Invited);
}

#[test]
fn invited_guest_joins_and_is_admitted() {
    let t = live()
        .invite(&host(), new_p("interpreter", Role::Guest), T0 + MIN)
        .unwrap();
    assert_eq!(kinds(&t), ["visit.invited"]);
    assert_eq!(state_of(&t.visit, "interpreter"), ParticipantState::Invited);
    let interpreter = Actor::participant("interpreter", Role::Guest);
    let v = t
        .visit
        .join(&interpreter, &policy(), T0 + 2 * MIN)
        .unwrap()
        .visit;
    let v = v
        .admit(&host(), &pid("interpreter"), T0 + 3 * MIN)
        .unwrap()
        .visit;
    assert!(v.check_media_access(&pid("interpreter")).is_ok());
}

#[test]
fn media_access_needs_a_live_visit_and_an_admission() {
    let v = live();
    assert_eq!(v.check_media_access(&pid(P)).unwrap().role, Role::Patient);
    assert_eq!(v.check_media_access(&pid(H)).unwrap().role, Role::Host);
    let code = |v: &Visit, id: &str| v.check_media_access(&pid(id)).unwrap_err().code();
    assert_eq!(code(&v, G), "not_admitted");
    assert_eq!(code(&v, "nobody"), "not_a_participant");
    assert_eq!(code(&waiting(), P), "not_live");
    assert_eq!(code(&ended(), P), "visit_ended");
}

#[test]
fn waiting_queue_lists_longest_waiting_first() {
    let v = scheduled()
        .join(&guest(), &policy(), T0 - 10 * MIN)
        .unwrap()
        .visit;
    let v = v.join(&patient(), &policy(), T0 - 8 * MIN).unwrap().visit;
    let queue: Vec<&str> = v.waiting_queue().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(queue, [G, P]);
    let v = v.admit(&host(), &pid(G), T0).unwrap().visit;
    let queue: Vec<&str> = v.waiting_queue().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(queue, [P]);
}

#[test]
fn a_whole_visit_numbers_its_events_without_gaps() {
    let mut all = Vec::new();
    let mut step = |t: Result<Transition, VisitError>| {
        let t = t.unwrap();
        all.extend(t.events.iter().map(|e| (e.seq, e.kind.name())));
        t.visit
    };
    let v = step(Visit::create(
        VisitId::from("visit-9"),
        T0,
        vec![new_p(H, Role::Host), new_p(P, Role::Patient)],
        &system(),
        T0 - HOUR,
    ));
    let v = step(v.join(&patient(), &policy(), T0 - MIN));
    let v = step(v.invite(&host(), new_p(G, Role::Guest), T0 - MIN));
    let v = step(v.admit(&host(), &pid(P), T0));
    let v = step(v.join(&guest(), &policy(), T0 + MIN));
    let v = step(v.admit(&host(), &pid(G), T0 + 2 * MIN));
    let v = step(v.leave(&patient(), T0 + 10 * MIN));
    let v = step(v.end(&host(), T0 + 11 * MIN));
    assert_eq!(v.state, VisitState::Ended);
    assert_eq!(
        all,
        [
            (1, "visit.created"),
            (2, "visit.patient_waiting"),
            (3, "visit.invited"),
            (4, "visit.started"),
            (5, "visit.admitted"),
            (6, "visit.patient_waiting"),
            (7, "visit.admitted"),
            (8, "visit.participant_left"),
            (9, "visit.ended"),
        ]
    );
    assert_eq!(v.last_seq, 9);
}

// ---- illegal transitions -----------------------------------------------

struct Refusal {
    label: &'static str,
    visit: fn() -> Visit,
    actor: Actor,
    cmd: Cmd,
    now: i64,
    code: &'static str,
}

fn refusal(
    label: &'static str,
    visit: fn() -> Visit,
    actor: Actor,
    cmd: Cmd,
    now: i64,
    code: &'static str,
) -> Refusal {
    Refusal {
        label,
        visit,
        actor,
        cmd,
        now,
        code,
    }
}

/// One row per refusal: the fixture, who acts, the command, when, the code.
/// Kept one row a line (hence `rustfmt::skip`) so the table reads as a table.
#[rustfmt::skip]
fn refusals() -> Vec<Refusal> {
    let stranger = || Actor::participant("nobody", Role::Patient);
    let late = T0 + HOUR;
    vec![
        // Only hosts admit, decline, start, invite; nobody admits themselves.
        refusal("patient admits self", waiting, patient(), Cmd::Admit(P), T0, "not_host"),
        refusal("patient admits guest", two_waiting, patient(), Cmd::Admit(G), T0, "not_host"),
        refusal("guest admits self", two_waiting, guest(), Cmd::Admit(G), T0, "not_host"),
        refusal("guest admits patient", waiting, guest(), Cmd::Admit(P), T0, "not_host"),
        refusal("patient admits self when live", live, patient(), Cmd::Admit(P), T0, "not_host"),
        refusal("system admits", waiting, system(), Cmd::Admit(P), T0, "not_host"),
        refusal("patient declines", two_waiting, patient(), Cmd::Decline(G), T0, "not_host"),
        refusal("guest declines", waiting, guest(), Cmd::Decline(P), T0, "not_host"),
        refusal("patient starts", waiting, patient(), Cmd::Start, T0, "not_host"),
        refusal("system starts", waiting, system(), Cmd::Start, T0, "not_host"),
        refusal("patient invites", scheduled, patient(), Cmd::Invite("x", Role::Guest), T0, "not_host"),
        refusal("system invites", scheduled, system(), Cmd::Invite("x", Role::Guest), T0, "not_host"),
        refusal("patient ends", live, patient(), Cmd::End, T0, "not_host"),
        refusal("guest ends", live, guest(), Cmd::End, T0, "not_host"),
        refusal("patient cancels", scheduled, patient(), Cmd::Cancel, T0, "not_host"),
        refusal("patient marks no-show", scheduled, patient(), Cmd::NoShow, late, "not_host"),
        refusal("patient admits self after end", ended, patient(), Cmd::Admit(P), T0, "not_host"),
        // Identity: unknown actors, the system where a person is needed, false roles.
        refusal("stranger joins", scheduled, stranger(), Cmd::Join, T0, "not_a_participant"),
        refusal("stranger leaves", live, stranger(), Cmd::Leave, T0, "not_a_participant"),
        refusal("system joins", scheduled, system(), Cmd::Join, T0, "not_a_participant"),
        refusal("system leaves", live, system(), Cmd::Leave, T0, "not_a_participant"),
        refusal("stranger host admits", waiting, Actor::participant("nobody", Role::Host), Cmd::Admit(P), T0, "not_a_participant"),
        refusal("admit unknown", waiting, host(), Cmd::Admit("nobody"), T0, "not_a_participant"),
        refusal("decline unknown", waiting, host(), Cmd::Decline("nobody"), T0, "not_a_participant"),
        refusal("patient claims host", waiting, Actor::participant(P, Role::Host), Cmd::Admit(P), T0, "role_mismatch"),
        refusal("guest claims patient", scheduled, Actor::participant(G, Role::Patient), Cmd::Join, T0, "role_mismatch"),
        refusal("host claims patient", scheduled, Actor::participant(H, Role::Patient), Cmd::Join, T0, "role_mismatch"),
        // The target must be waiting.
        refusal("admit invited", scheduled, host(), Cmd::Admit(P), T0, "not_waiting"),
        refusal("admit admitted", live, host(), Cmd::Admit(P), T0, "not_waiting"),
        refusal("admit the host", live, host(), Cmd::Admit(H), T0, "not_waiting"),
        refusal("admit a declined patient", declined, host(), Cmd::Admit(P), T0, "not_waiting"),
        refusal("admit someone who left", joined_and_left, host(), Cmd::Admit(P), T0, "not_waiting"),
        refusal("decline admitted", live, host(), Cmd::Decline(P), T0, "not_waiting"),
        refusal("decline invited", waiting, host(), Cmd::Decline(G), T0, "not_waiting"),
        // The visit's state must allow the command.
        refusal("start live", live, host(), Cmd::Start, T0, "illegal_transition"),
        refusal("end scheduled", scheduled, host(), Cmd::End, T0, "illegal_transition"),
        refusal("end waiting", waiting, host(), Cmd::End, T0, "illegal_transition"),
        refusal("system ends waiting", waiting, system(), Cmd::End, T0, "illegal_transition"),
        refusal("cancel live", live, host(), Cmd::Cancel, T0, "illegal_transition"),
        refusal("system cancels live", live, system(), Cmd::Cancel, T0, "illegal_transition"),
        refusal("no-show while waiting", waiting, system(), Cmd::NoShow, late, "illegal_transition"),
        refusal("no-show while live", live, system(), Cmd::NoShow, late, "illegal_transition"),
        refusal("host joins before live", scheduled, host(), Cmd::Join, T0, "illegal_transition"),
        refusal("host joins the waiting room", waiting, host(), Cmd::Join, T0, "illegal_transition"),
        refusal("no-show after someone joined", joined_and_left, system(), Cmd::NoShow, late, "someone_joined"),
        refusal("no-show after a decline", declined, system(), Cmd::NoShow, late, "someone_joined"),
        refusal("no-show too early", scheduled, system(), Cmd::NoShow, T0, "too_early"),
        refusal("patient joins too early", scheduled, patient(), Cmd::Join, T0 - 2 * HOUR, "too_early"),
        refusal("guest joins too early", scheduled, guest(), Cmd::Join, T0 - 2 * HOUR, "too_early"),
        // The participant's own state.
        refusal("leave while invited", scheduled, patient(), Cmd::Leave, T0, "not_present"),
        refusal("leave twice", joined_and_left, patient(), Cmd::Leave, T0, "not_present"),
        refusal("host leaves before starting", waiting, host(), Cmd::Leave, T0, "not_present"),
        refusal("declined patient leaves", declined, patient(), Cmd::Leave, T0, "not_present"),
        refusal("declined patient joins again", declined, patient(), Cmd::Join, T0, "declined"),
        refusal("invite an existing id", live, host(), Cmd::Invite(G, Role::Guest), T0, "duplicate_participant"),
    ]
}

#[test]
fn illegal_commands_are_refused_with_their_code_and_change_nothing() {
    let table = refusals();
    assert!(table.len() > 50);
    for r in table {
        let visit = (r.visit)();
        let before = visit.clone();
        let err = run(&visit, &r.actor, &r.cmd, r.now).expect_err(r.label);
        assert_eq!(err.code(), r.code, "{}: {err}", r.label);
        assert_eq!(visit, before, "{}", r.label);
    }
}

#[test]
fn terminal_visits_refuse_every_command_with_visit_ended() {
    let authorized: Vec<(Actor, Cmd)> = vec![
        (patient(), Cmd::Join),
        (guest(), Cmd::Join),
        (host(), Cmd::Join),
        (host(), Cmd::Admit(P)),
        (host(), Cmd::Decline(P)),
        (host(), Cmd::Start),
        (patient(), Cmd::Leave),
        (host(), Cmd::Leave),
        (host(), Cmd::End),
        (system(), Cmd::End),
        (system(), Cmd::NoShow),
        (host(), Cmd::Cancel),
        (system(), Cmd::Cancel),
        (host(), Cmd::Invite("late", Role::Guest)),
    ];
    for (name, make) in [
        ("ended", ended as fn() -> Visit),
        ("no_show", no_show),
        ("cancelled", cancelled),
    ] {
        let v = make();
        assert!(v.state.is_terminal());
        for (actor, cmd) in &authorized {
            let err = run(&v, actor, cmd, T0 + 2 * HOUR).unwrap_err();
            assert_eq!(
                err,
                VisitError::VisitEnded { state: v.state },
                "{name} {cmd:?}"
            );
        }
    }
}

/// Every fixture × every actor × every command × a few instants: whatever is
/// accepted follows the state graph and numbers its events right after the
/// visit's last one; whatever is refused says why with a known code.
#[test]
fn every_combination_respects_the_state_graph_and_sequence() {
    let fixtures: [fn() -> Visit; 10] = [
        scheduled,
        waiting,
        two_waiting,
        live,
        started_alone,
        ended,
        no_show,
        cancelled,
        joined_and_left,
        declined,
    ];
    let actors = [
        host(),
        patient(),
        guest(),
        system(),
        Actor::participant("nobody", Role::Guest),
        Actor::participant(P, Role::Guest),
    ];
    let cmds = [
        Cmd::Join,
        Cmd::Admit(P),
        Cmd::Admit(G),
        Cmd::Admit(H),
        Cmd::Decline(P),
        Cmd::Decline(G),
        Cmd::Start,
        Cmd::Leave,
        Cmd::End,
        Cmd::NoShow,
        Cmd::Cancel,
        Cmd::Invite("extra", Role::Guest),
    ];
    let known = [
        "illegal_transition",
        "not_host",
        "not_a_participant",
        "role_mismatch",
        "not_waiting",
        "not_present",
        "declined",
        "visit_ended",
        "too_early",
        "someone_joined",
        "duplicate_participant",
    ];
    let allowed = |from: VisitState, to: VisitState| {
        use VisitState::*;
        match from {
            Scheduled => matches!(to, Scheduled | Waiting | Live | NoShow | Cancelled),
            Waiting => matches!(to, Scheduled | Waiting | Live | Cancelled),
            Live => matches!(to, Live | Ended),
            Ended | NoShow | Cancelled => false,
        }
    };
    let mut accepted = 0;
    for make in fixtures {
        for actor in &actors {
            for cmd in &cmds {
                for now in [T0 - 2 * HOUR, T0, T0 + HOUR] {
                    let v = make();
                    match run(&v, actor, cmd, now) {
                        Ok(t) => {
                            accepted += 1;
                            assert!(allowed(v.state, t.visit.state), "{:?} {cmd:?}", v.state);
                            let expected: Vec<u64> = (v.last_seq + 1..=t.visit.last_seq).collect();
                            assert_eq!(seqs(&t), expected, "{cmd:?}");
                            assert!(t.events.iter().all(|e| e.at_ms == now));
                            assert!(t.events.iter().all(|e| e.actor.as_ref() == actor_id(actor)));
                            if t.visit.state.is_terminal() {
                                assert!(t.visit.participants.iter().all(|p| !p.is_present()));
                                assert_eq!(t.visit.ended_at_ms, Some(now));
                            }
                        }
                        Err(e) => assert!(known.contains(&e.code()), "{e:?}"),
                    }
                }
            }
        }
    }
    assert!(accepted > 20, "the sweep exercised accepted commands too");
}

fn actor_id(actor: &Actor) -> Option<&ParticipantId> {
    match actor {
        Actor::Participant { id, .. } => Some(id),
        Actor::System => None,
    }
}

// ---- serialization -----------------------------------------------------

#[test]
fn events_serialize_flat_and_round_trip() {
    let t = waiting().admit(&host(), &pid(P), T0).unwrap();
    let json = t.events[1].to_json().unwrap();
    assert_eq!(
        json,
        json!({
            "visit_id": "visit-1", "seq": 4, "at_ms": T0, "actor": H,
            "type": "admitted", "participant_id": P, "role": "patient", "waited_ms": 5 * MIN,
        })
    );
    assert_eq!(
        t.events[0].to_json().unwrap(),
        json!({"visit_id": "visit-1", "seq": 3, "at_ms": T0, "actor": H, "type": "started"})
    );
    assert_eq!(t.events[0].topic(), "visit.visit-1");

    let mut events = scheduled_history();
    events.extend(live().end(&system(), T0 + MIN).unwrap().events);
    events.extend(scheduled().cancel(&host(), T0).unwrap().events);
    events.extend(no_show_events());
    events.extend(
        live()
            .invite(&host(), new_p("x", Role::Guest), T0)
            .unwrap()
            .events,
    );
    events.extend(live().leave(&patient(), T0).unwrap().events);
    events.extend(waiting().decline(&host(), &pid(P), T0).unwrap().events);
    let mut names: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 10, "every kind is covered: {names:?}");
    for e in events {
        let text = serde_json::to_string(&e).unwrap();
        let back: VisitEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e, "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let expected_type = e.kind.name().trim_start_matches("visit.");
        let expected_type = if expected_type == "created" {
            "visit_created"
        } else {
            expected_type
        };
        assert_eq!(value["type"], expected_type);
    }
}

fn scheduled_history() -> Vec<VisitEvent> {
    let created = Visit::create(
        VisitId::from("visit-1"),
        T0,
        vec![new_p(H, Role::Host), new_p(P, Role::Patient)],
        &system(),
        0,
    )
    .unwrap();
    let mut events = created.events;
    let t = created.visit.join(&patient(), &policy(), T0 - MIN).unwrap();
    events.extend(t.events);
    events.extend(t.visit.admit(&host(), &pid(P), T0).unwrap().events);
    events
}

fn no_show_events() -> Vec<VisitEvent> {
    scheduled()
        .mark_no_show(&system(), &policy(), T0 + HOUR)
        .unwrap()
        .events
}

#[test]
fn visits_and_states_use_snake_case_names() {
    let v = no_show();
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["state"], "no_show");
    assert_eq!(json["participants"][0]["role"], "host");
    assert_eq!(json["participants"][0]["state"], "invited");
    let back: Visit = serde_json::from_value(json).unwrap();
    assert_eq!(back, v);
    for s in VisitState::ALL {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
    for r in Role::ALL {
        assert_eq!(r.to_string(), r.as_str());
    }
}

#[test]
fn policy_reads_from_configuration_with_defaults() {
    let p: VisitPolicy = serde_json::from_value(json!({"no_show_grace_ms": 600000})).unwrap();
    assert_eq!(p.no_show_grace_ms, 600_000);
    assert_eq!(
        p.join_opens_before_ms,
        VisitPolicy::DEFAULT_JOIN_OPENS_BEFORE_MS
    );
    assert!(serde_json::from_value::<VisitPolicy>(json!({"grace": 1})).is_err());
}

#[test]
fn error_messages_name_the_action_and_state() {
    let err = live().cancel(&host(), T0).unwrap_err();
    assert_eq!(err.to_string(), "cannot cancel a visit that is live");
    let err = waiting().admit(&patient(), &pid(P), T0).unwrap_err();
    assert_eq!(err.to_string(), "only a host may admit");
}
