// The bearer token: handed over in the link's fragment (#token=…, never sent to a
// server), or pasted; kept for this tab only.
const KEY = 'quanzi.token';

export function takeTokenFromFragment() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get('token');
  if (token) {
    sessionStorage.setItem(KEY, token.trim());
    history.replaceState(null, '', window.location.pathname + window.location.search);
  }
}

export function storedToken() {
  return sessionStorage.getItem(KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(KEY, token.trim());
  else sessionStorage.removeItem(KEY);
}
