// Organization settings: its name and when appointment reminders go out.

import { act, showError } from './ui.js';

/** "1440, 60" → [1440, 60]; null when something is not a whole number. */
function parseOffsets(text) {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (!parts.length || parts.some((p) => !/^\d+$/.test(p))) return null;
  return parts.map(Number);
}

/** Fills the settings form for `org` (name and reminder offsets). */
export async function loadSettings(session, org) {
  const form = document.getElementById('settings-form');
  const error = document.getElementById('settings-error');
  showError(error, null);
  form.elements.name.value = org.org_name;
  try {
    const s = await session.get(`/api/v1/orgs/${encodeURIComponent(org.org_id)}/notification-settings`);
    form.elements.offsets.value = s.reminder_offsets_min.join(', ');
  } catch (err) {
    showError(error, err);
  }
}

/** Saves both settings on submit; `onRenamed(name)` updates the page. */
export function wireSettingsForm(session, getOrg, onRenamed) {
  const form = document.getElementById('settings-form');
  const error = document.getElementById('settings-error');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const org = getOrg();
    const offsets = parseOffsets(form.elements.offsets.value);
    if (!offsets) {
      showError(error, { code: 'invalid_reminder_offsets' });
      form.elements.offsets.focus();
      return;
    }
    const name = form.elements.name.value.trim();
    const base = `/api/v1/orgs/${encodeURIComponent(org.org_id)}`;
    await act(
      form.querySelector('button[type=submit]'),
      async () => {
        if (name !== org.org_name) {
          const renamed = await session.patch(base, { name });
          onRenamed(renamed.name);
        }
        await session.put(`${base}/notification-settings`, { reminder_offsets_min: offsets });
      },
      { done: 'Settings saved.', errorNode: error },
    );
  });
}
