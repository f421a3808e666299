// Links from account mail sent before the sign-up and password pages existed
// (`/account#verify=<token>`, `/account#reset=<token>`) still work: the
// fragment moves on to the page that handles it, without reaching any server.

const fragment = new URLSearchParams(location.hash.slice(1));
history.replaceState(null, '', location.pathname);
if (fragment.get('verify')) {
  location.replace(`/signup#verify=${encodeURIComponent(fragment.get('verify'))}`);
} else if (fragment.get('reset')) {
  location.replace(`/forgot#reset=${encodeURIComponent(fragment.get('reset'))}`);
} else {
  document.getElementById('invalid').hidden = false;
}
