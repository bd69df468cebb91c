// Chaat's web client: the login screen, then the app (chat list, chat, friends,
// search), all through the public API. The token lives in sessionStorage: it survives
// a reload of this tab and goes away with it; nothing else is stored.

import { Api, describe } from './api.js';
import { avatar, nameOf } from './dom.js';
import { Session } from './session.js';
import { Store } from './store.js';
import { formError, toast } from './ui.js';
import { ChatView } from './views/chat.js';
import { ChatList } from './views/chatlist.js';
import { AccountDialog, DetailsDialog, NewChatDialog } from './views/dialogs.js';
import { FriendsView } from './views/friends.js';
import { SearchView } from './views/search.js';

const TOKEN_KEY = 'chaat.token';
const wide = window.matchMedia('(min-width: 721px)');

const api = new Api();
const store = new Store();
const session = new Session(api, store, { onEnded: (reason) => end(reason) });
const byId = (id) => document.getElementById(id);

const details = new DetailsDialog(session);
const chatView = new ChatView(session, { openDetails: (chatId) => details.open(chatId) });
const chatList = new ChatList(store);
const friendsView = new FriendsView(session);
const searchView = new SearchView(session);
const newChat = new NewChatDialog(session);
const account = new AccountDialog(session, { logOut, logOutEverywhere });

api.onUnauthorized = () => end('Your session has ended. Please log in again.');

// Logging in and out ----------------------------------------------------------------------

function showLogin(reason = '') {
  byId('app').hidden = true;
  byId('login-screen').hidden = false;
  showForm('login');
  const error = byId('login-error');
  error.textContent = reason;
  error.hidden = !reason;
}

function showForm(which) {
  byId('login-form').hidden = which !== 'login';
  byId('signup-form').hidden = which !== 'signup';
  byId(which === 'login' ? 'login-username' : 'signup-username').focus();
}

function begin(me, token) {
  api.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  byId('login-screen').hidden = true;
  byId('app').hidden = false;
  for (const form of document.querySelectorAll('#login-screen form')) form.reset();
  session.start(me, token);
  route();
}

let ending = false;

/** Back to the login screen, forgetting the token (reason says why, if not asked). */
function end(reason = '') {
  if (ending || !store.me) return;
  ending = true;
  session.stop();
  api.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  chatView.hide();
  store.reset(null);
  delete byId('app').dataset.loaded;
  delete byId('app').dataset.connection;
  history.replaceState(null, '', window.location.pathname);
  showLogin(reason);
  ending = false;
}

async function logOut() {
  try {
    await api.logOut();
  } catch {
    // the token is forgotten here either way
  }
  end();
}

async function logOutEverywhere() {
  try {
    await api.logOutEverywhere();
  } catch (error) {
    toast(describe(error), { error: true });
    return;
  }
  end('You are logged out on every device.');
}

async function logIn(username, password) {
  const answer = await api.logIn(username, password);
  begin(answer.user, answer.token);
}

byId('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const username = byId('login-username').value.trim();
  const password = byId('login-password').value;
  if (!username || !password) {
    formError(form, { describe: () => 'Enter your username and password.' });
    return;
  }
  formError(form, null);
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await logIn(username, password);
  } catch (error) {
    formError(form, error);
    byId('login-password').select();
  } finally {
    button.disabled = false;
  }
});

byId('signup-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const fields = {
    username: byId('signup-username').value.trim(),
    password: byId('signup-password').value,
  };
  const displayName = byId('signup-display-name').value.trim();
  const invite = byId('signup-invite').value.trim();
  if (displayName) fields.display_name = displayName;
  if (invite) fields.invite = invite;
  formError(form, null);
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await api.signUp(fields);
    await logIn(fields.username, fields.password);
  } catch (error) {
    formError(form, error);
    if (error.code === 'invalid_invite' || error.code === 'registration_closed') {
      byId('signup-invite').focus();
    }
  } finally {
    button.disabled = false;
  }
});

byId('show-signup').addEventListener('click', () => showForm('signup'));
byId('show-login').addEventListener('click', () => showForm('login'));

// The app's frame ---------------------------------------------------------------------------

store.on('loaded', () => {
  byId('app').dataset.loaded = '';
});

store.on('me', () => {
  if (!store.me) return;
  const name = nameOf(store.me);
  byId('me-name').textContent = name;
  byId('me-avatar').replaceChildren(avatar(name, store.me.id));
});

store.on('requests', () => {
  const count = store.incomingRequests().length;
  const badge = byId('friends-badge');
  badge.hidden = !count;
  badge.textContent = String(count);
  byId('friends-badge-label').textContent = count ? `, ${count} waiting` : '';
});

const CONNECTION = {
  connecting: 'Connecting…',
  reconnecting: 'Connection lost. Reconnecting…',
  offline: 'You are offline. Messages will be sent when you are back.',
  live: '',
};
store.on('connection', (status) => {
  byId('app').dataset.connection = status;
  const line = byId('connection');
  line.textContent = CONNECTION[status] ?? '';
  line.hidden = !line.textContent;
  line.dataset.status = status;
});

byId('account-button').addEventListener('click', () => account.open());
byId('new-chat-button').addEventListener('click', () => newChat.open());
document.addEventListener('click', (event) => {
  const closer = event.target.closest('[data-close]');
  if (closer) closer.closest('dialog')?.close();
});

// Views, from the address's #fragment: #chat/<id>[/<seq>], #friends, #search. ------------

function route() {
  if (!store.me) return;
  const [kind, first, second] = window.location.hash.replace(/^#\/?/, '').split('/');
  const chatId = kind === 'chat' && /^\d+$/.test(first ?? '') ? Number(first) : null;
  const seq = chatId !== null && /^\d+$/.test(second ?? '') ? Number(second) : null;
  const view = chatId !== null ? 'chat' : ['friends', 'search'].includes(kind) ? kind : 'welcome';
  byId('app').classList.toggle('has-main', view !== 'welcome');
  byId('welcome-view').hidden = view !== 'welcome';
  if (view !== 'chat') chatView.hide();
  if (view !== 'friends') friendsView.hide();
  if (view !== 'search') searchView.hide();
  chatList.setActive(chatId);
  for (const link of document.querySelectorAll('.sidebar-nav a')) {
    const current = link.getAttribute('href') === `#${view}`;
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (view === 'chat') {
    const opening = chatView.chatId !== chatId;
    chatView.show(chatId, seq);
    if (opening && wide.matches) chatView.focusComposer();
    else if (opening) byId('chat-title').focus();
  } else if (view === 'friends') {
    friendsView.show();
    byId('friends-title').focus();
  } else if (view === 'search') {
    searchView.show();
    searchView.focus();
  }
}

window.addEventListener('hashchange', route);

// Starting ------------------------------------------------------------------------------------

async function boot() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    showLogin();
    return;
  }
  api.token = token;
  try {
    begin(await api.me(), token);
  } catch (error) {
    api.token = null;
    if (error.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    showLogin(error.status === 401 ? 'Your session has ended. Please log in again.' : describe(error));
  }
}

boot();
