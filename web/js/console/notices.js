// Which personal events become a visible notice on console pages, in words.
// Bookings and cancellations arrive as the notifier's in-app notice, written
// for this reader (their language and time zone), so that text is shown rather
// than the raw `appointment.*` event; a patient waiting for a video visit is
// shown at once.

/** `{title, text, tone}` for a `user_event`, or null when it is not shown. */
export function noticeFor({ kind, payload }) {
  if (kind === 'notification' && payload?.title) {
    return { title: payload.title, text: payload.body ?? '', tone: 'info' };
  }
  if (kind === 'visit.patient_waiting') {
    const who = payload?.display_name ? `${payload.display_name} is` : 'A patient is';
    return { title: 'Patient waiting', text: `${who} waiting for a video visit.`, tone: 'warn' };
  }
  return null;
}
