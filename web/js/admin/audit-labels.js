// Plain words for audit actions, outcomes and chain faults. An action not
// listed here is shown by its name with the dots turned into spaces.

const ACTIONS = {
  'auth.login': 'Signed in',
  'auth.logout': 'Signed out',
  'audit.read': 'Viewed the audit log',
  'audit.verify': 'Checked the audit log',
  'account.disable': 'Disabled an account',
  'account.enable': 'Re-enabled an account',
  'invite.create': 'Sent an invitation',
  'invite.accept': 'Accepted an invitation',
  'invite.revoke': 'Revoked an invitation',
  'membership.role_change': 'Changed a role',
  'membership.remove': 'Removed a member',
  'org.create': 'Created the organization',
  'org.rename': 'Renamed the organization',
  'org.members.read': 'Viewed the member list',
  'org.notification_settings': 'Changed reminder settings',
  'notification.retry': 'Sent a notification again',
  'platform_admin.grant': 'Made a platform admin',
  'platform_admin.revoke': 'Removed a platform admin',
};

/** Action names offered as suggestions in the filter. */
export const KNOWN_ACTIONS = Object.keys(ACTIONS);

export function actionLabel(action) {
  return ACTIONS[action] ?? action.replaceAll('.', ' ').replaceAll('_', ' ');
}

export const OUTCOMES = { success: 'Done', failure: 'Failed', denied: 'Refused' };

/** What a chain fault means, for the verification verdict. */
export const FAULTS = {
  altered: 'an entry was changed after it was written',
  deleted: 'entries are missing',
  inserted: 'an entry was inserted or replaced',
  forged: 'an entry was added by someone without the audit key',
  truncated: 'the newest entries were removed',
  wiped: 'the log was emptied or started over',
  replaced: 'the log was restored from an older copy',
  unsealed: 'the record of where the log begins is missing or not genuine',
  unguarded: 'the protection against changing entries is switched off',
};
