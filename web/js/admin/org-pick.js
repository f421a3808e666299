// Which organization an admin page is about. A person who administers one
// organization never sees a choice; one who administers several picks it from
// a labelled list. The choice is kept in the address (`?org=`), so a reload or
// a link keeps it, and moving between admin pages keeps it too.

import { el } from '../dom.js';

/** The chosen organization among `orgs` (`[{org_id, org_name}]`). */
export function chosenOrg(orgs) {
  const wanted = new URLSearchParams(location.search).get('org');
  return orgs.find((o) => o.org_id === wanted) ?? orgs[0];
}

/**
 * Renders the picker into `#org-pick` when there is a choice and calls
 * `onChange(org)` after a change. Keeps `?org=` on the shell's admin links.
 */
export function renderOrgPicker(orgs, current, onChange) {
  const holder = document.getElementById('org-pick');
  keepOrgInLinks(current);
  if (!holder || orgs.length < 2) return;
  const select = el(
    'select',
    { id: 'org-select', name: 'org' },
    orgs.map((o) => el('option', { value: o.org_id, selected: o.org_id === current.org_id }, o.org_name)),
  );
  select.addEventListener('change', () => {
    const org = orgs.find((o) => o.org_id === select.value);
    const url = new URL(location.href);
    url.searchParams.set('org', org.org_id);
    history.replaceState(null, '', url);
    keepOrgInLinks(org);
    onChange(org);
  });
  holder.replaceChildren(
    el('div', { class: 'field inline' }, [el('label', { for: 'org-select' }, 'Organization'), select]),
  );
}

function keepOrgInLinks(org) {
  for (const a of document.querySelectorAll('#shell-bar a[href^="/web/admin.html"], #shell-bar a[href^="/web/audit.html"]')) {
    const url = new URL(a.href, location.href);
    url.searchParams.set('org', org.org_id);
    a.href = url.pathname + url.search;
  }
}
