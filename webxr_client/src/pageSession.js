/**
 * The session this page joins, from its URL: `?session=&token=` as given; `?session=` alone (an invite link,
 * maybe with `&code=`) joins it for a token of its own; neither takes a token for the server's default
 * session. The URL is then rewritten to name the session and token, so a reload rejoins as the same member.
 *
 * @param {import('./ServerApi.js').ServerApi} api
 * @returns {Promise<{id: string, token: string}>}
 */
export async function resolvePageSession(api) {
  const params = new URLSearchParams(window.location.search);
  let id = params.get('session');
  let token = params.get('token');
  if (!id || !token) {
    const answer = id ? await api.join(id, params.get('code')) : await api.defaultSession();
    id = answer.session_id;
    token = answer.token;
    const url = new URL(window.location.href);
    url.searchParams.set('session', id);
    url.searchParams.set('token', token);
    url.searchParams.delete('code');
    window.history.replaceState(null, '', url.href);
  }
  return { id, token };
}
