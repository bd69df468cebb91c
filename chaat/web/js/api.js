// The public HTTP API (contract 1.1), one method per operation.
// Every answer is JSON; every failure becomes an ApiError carrying the server's own
// message, or a NetworkError when the server could not be reached at all.

export class ApiError extends Error {
  constructor(status, code, message, details = [], retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }

  /** The message, with what the server said about each field, for people to read. */
  describe() {
    let text = this.message;
    const problems = this.details
      .filter((d) => d && d.problem && this.code !== 'not_friends')
      .map((d) => (d.field ? `${d.field}: ${d.problem}` : d.problem));
    if (problems.length) text += ` (${problems.join('; ')})`;
    if (this.retryAfter) text += ` Try again in ${this.retryAfter} s.`;
    return text;
  }
}

export class NetworkError extends Error {
  constructor() {
    super('Cannot reach the server. Check your connection; Chaat keeps trying.');
  }

  describe() {
    return this.message;
  }
}

/** A message for any error a call may throw. */
export function describe(error) {
  return typeof error?.describe === 'function' ? error.describe() : String(error?.message ?? error);
}

const seg = encodeURIComponent;

export class Api {
  constructor() {
    this.token = null;
    /** Called when a request with a token answers 401 unauthorized: the session is over. */
    this.onUnauthorized = () => {};
  }

  async request(method, path, { body, query } = {}) {
    let url = `/v1${path}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
      }
      const text = params.toString();
      if (text) url += `?${text}`;
    }
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      throw new NetworkError();
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = data?.error ?? {
        code: `http_${response.status}`,
        message: `The server answered ${response.status} ${response.statusText}.`,
      };
      const failure = new ApiError(
        response.status,
        error.code,
        error.message,
        Array.isArray(error.details) ? error.details : [],
        response.headers.get('Retry-After'),
      );
      if (response.status === 401 && error.code === 'unauthorized' && headers.Authorization) {
        this.onUnauthorized(failure);
      }
      throw failure;
    }
    return data;
  }

  // Users and tokens
  signUp(fields) {
    return this.request('POST', '/users', { body: fields });
  }
  logIn(username, password) {
    return this.request('POST', '/tokens', { body: { username, password } });
  }
  logOut() {
    return this.request('DELETE', '/tokens/current');
  }
  logOutEverywhere() {
    return this.request('DELETE', '/tokens');
  }
  me() {
    return this.request('GET', '/users/me');
  }
  changePassword(oldPassword, newPassword) {
    return this.request('PUT', '/users/me/password', {
      body: { old_password: oldPassword, new_password: newPassword },
    });
  }
  users(q, limit = 10) {
    return this.request('GET', '/users', { query: { q, limit } });
  }
  createInvite() {
    return this.request('POST', '/invites', { body: {} });
  }

  // Friends and blocks
  friendRequests(query = {}) {
    return this.request('GET', '/friend-requests', { query });
  }
  sendFriendRequest(to) {
    return this.request('POST', '/friend-requests', { body: { to } });
  }
  answerFriendRequest(id, status) {
    return this.request('PATCH', `/friend-requests/${id}`, { body: { status } });
  }
  withdrawFriendRequest(id) {
    return this.request('DELETE', `/friend-requests/${id}`);
  }
  friends() {
    return this.request('GET', '/friends');
  }
  unfriend(userId) {
    return this.request('DELETE', `/friends/${userId}`);
  }
  blocks() {
    return this.request('GET', '/blocks');
  }
  block(user) {
    return this.request('PUT', `/blocks/${seg(user)}`);
  }
  unblock(user) {
    return this.request('DELETE', `/blocks/${seg(user)}`);
  }

  // Chats
  chats() {
    return this.request('GET', '/chats');
  }
  chat(id) {
    return this.request('GET', `/chats/${id}`);
  }
  createChat(body) {
    return this.request('POST', '/chats', { body });
  }
  renameChat(id, name) {
    return this.request('PATCH', `/chats/${id}`, { body: { name } });
  }
  participants(id) {
    return this.request('GET', `/chats/${id}/participants`);
  }
  addParticipant(id, user) {
    return this.request('POST', `/chats/${id}/participants`, { body: { user } });
  }
  removeParticipant(id, userId) {
    return this.request('DELETE', `/chats/${id}/participants/${userId}`);
  }

  // Messages
  messages(chatId, { before, after, limit } = {}) {
    return this.request('GET', `/chats/${chatId}/messages`, { query: { before, after, limit } });
  }
  message(chatId, seq) {
    return this.request('GET', `/chats/${chatId}/messages/${seq}`);
  }
  send(chatId, body) {
    return this.request('POST', `/chats/${chatId}/messages`, { body });
  }
  edit(chatId, seq, body) {
    return this.request('PATCH', `/chats/${chatId}/messages/${seq}`, { body: { body } });
  }
  deleteMessage(chatId, seq) {
    return this.request('DELETE', `/chats/${chatId}/messages/${seq}`);
  }
  react(chatId, seq, emoji) {
    return this.request('PUT', `/chats/${chatId}/messages/${seq}/reactions/${seg(emoji)}`);
  }
  unreact(chatId, seq, emoji) {
    return this.request('DELETE', `/chats/${chatId}/messages/${seq}/reactions/${seg(emoji)}`);
  }
  markRead(chatId, seq) {
    return this.request('POST', `/chats/${chatId}/read`, { body: { seq } });
  }
  typing(chatId) {
    return this.request('POST', `/chats/${chatId}/typing`);
  }
  search({ q, chat, before, limit }) {
    return this.request('GET', '/messages', { query: { q, chat, before, limit } });
  }
}
