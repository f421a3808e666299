// Plain language for every page: an API error (`ApiError`, docs/api.md
// "Errors") becomes a sentence a patient or a clinician understands. Pages
// never show a code, raw server text or an epoch number.

/** Sentences by stable error code. Add a code here when a page can meet it. */
const SENTENCES = {
  network_error: 'The hub could not be reached. Check your connection and try again.',
  invalid_credentials: 'Wrong email or password.',
  account_locked: 'Too many failed attempts. Wait a few minutes, then try again.',
  too_many_attempts: 'Too many attempts. Wait a moment, then try again.',
  mfa_required: 'Enter the code from your authenticator app.',
  invalid_mfa_code: 'That code is not right. Codes change every 30 seconds; try the current one.',
  mfa_already_enabled: 'Two-step sign-in is already on.',
  mfa_not_enabled: 'Two-step sign-in is not on.',
  mfa_not_enrolled: 'Start the set-up again: scan the new QR code first.',
  unauthenticated: 'You are signed out. Please sign in again.',
  token_expired: 'Your session has expired. Please sign in again.',
  invalid_refresh_token: 'Your session has ended. Please sign in again.',
  refresh_token_reused: 'Your session has ended for your safety. Please sign in again.',
  forbidden: 'Your account is not allowed to do this.',
  not_found: 'This could not be found. It may have been removed.',
  invalid_email: 'Enter a valid email address.',
  invalid_display_name: 'Enter your name (up to 100 characters).',
  invalid_token: 'This link is invalid, already used or expired. Ask for a new one.',
  password_too_short: 'Choose a longer password (at least 12 characters).',
  password_too_long: 'Choose a shorter password.',
  password_too_common: 'This password is too common. Choose one that is harder to guess.',
  password_contains_email: 'Your password must not contain your email address.',
  password_repeated_character: 'Your password must not be one character repeated.',
  already_verified: 'Your email address is already confirmed.',
  invite_expired: 'This invitation has expired. Ask for a new one.',
  invite_revoked: 'This invitation was withdrawn.',
  invite_used: 'This invitation has already been used.',
  invite_email_mismatch: 'This invitation was sent to another email address. Sign out and open it again.',
  already_member: 'You are already a member of this organization.',
  login_required: 'This email already has an account. Sign in first, then open the invitation again.',
  last_admin: 'An organization needs at least one admin.',
  last_platform_admin: 'The platform needs at least one platform admin.',
  cannot_disable_self: 'You cannot disable your own account.',
  account_beyond_org:
    'This account also belongs to another organization (or runs the platform). Only a platform admin can disable it; you can remove the member instead.',
  disabled_by_platform: 'A platform admin disabled this account. Only a platform admin can re-enable it.',
  invalid_filter: 'One of the filters is not valid. Check it and try again.',
  invalid_org_name: 'Enter the organization’s name (up to 200 characters).',
  org_name_taken: 'An organization with this name already exists.',
  invalid_reminder_offsets: 'Give one to five reminder times, each between 5 and 43200 minutes before.',
  invite_not_pending: 'This invitation was already used or withdrawn.',
  notification_not_failed: 'This notification is no longer failed; it may already be on its way.',
  notification_expired: 'Too late to send this one: its moment has passed.',
  notification_content_gone: 'This message held a one-time link that is no longer kept. Send a new one instead.',
  slot_taken: 'Someone just booked this time. Please choose another.',
  in_the_past: 'This time has already passed. Please choose another.',
  outside_availability: 'The provider is not available at this time.',
  not_booked: 'This appointment is no longer booked.',
  invalid_reason: 'Enter a reason (up to 500 characters).',
  invalid_time_zone: 'Choose a time zone from the list.',
  invalid_phone: 'Enter the phone number with its country code, for example +1 555 010 0100.',
  invalid_quiet_hours: 'Quiet hours need a start and an end time.',
  visit_ended: 'This visit has ended.',
  visit_not_found: 'This visit could not be found. Open it again from your appointments.',
  too_early: 'This visit is not open yet.',
  declined: 'You were not admitted to this visit.',
  not_host: 'Only the clinician hosting the visit can do this.',
  media_unavailable: 'The video service is busy. Try again in a moment.',
  media_refused: 'The video connection could not be set up.',
  not_admitted: 'You have not been let in yet.',
  grant_invalid: 'The video connection expired.',
  direct_thread_exists: 'You already have a conversation with this clinic.',
  room_not_found: 'This conversation is no longer available to you.',
  invalid_range: 'Choose an end after the start.',
  disconnected: 'The connection was lost. It will come back by itself.',
  timeout: 'The hub took too long to answer. Try again.',
  invalid_locale: 'Choose a language from the list.',
  invalid_channels: 'Choose each way to reach you once.',
  invalid_category: 'This kind of notice cannot be changed.',
  payload_too_large: 'This is too large to send.',
  request_timeout: 'The hub took too long to answer. Try again.',
  internal_error: 'Something went wrong on our side. Try again in a moment.',
  unavailable: 'The hub could not do this just now. Try again in a moment.',
};

/**
 * A sentence for an error. `overrides` maps codes to sentences for this
 * screen; unknown codes get a general sentence (never the code itself).
 */
export function explain(err, overrides = {}) {
  const code = err?.code;
  if (code && overrides[code]) return overrides[code];
  if (code && SENTENCES[code]) return SENTENCES[code];
  if (err?.status === 429) return SENTENCES.too_many_attempts;
  if (err?.status === 422) return 'Please check what you entered.';
  if (err?.status >= 500) return SENTENCES.internal_error;
  return 'Something went wrong. Try again.';
}

/** "in 25 minutes", "in 2 hours", "in 3 days" (or "now"), for a time ahead. */
export function untilText(ms) {
  const minutes = Math.ceil(ms / 60_000);
  if (minutes <= 0) return 'now';
  if (minutes < 60) return minutes === 1 ? 'in 1 minute' : `in ${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return hours === 1 ? 'in 1 hour' : `in ${hours} hours`;
  return `in ${Math.round(hours / 24)} days`;
}
