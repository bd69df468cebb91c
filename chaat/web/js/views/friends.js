// The friends page: add a friend by username, answer or withdraw requests, message,
// unfriend, block and unblock.

import { h, replaceKeepingFocus } from '../dom.js';
import { attempt, confirmDialog, formError } from '../ui.js';
import { personRow } from './people.js';

export class FriendsView {
  constructor(session) {
    this.session = session;
    this.store = session.store;
    this.root = document.getElementById('friends-view');
    this.form = document.getElementById('add-friend-form');
    this.input = document.getElementById('add-friend-input');
    this.suggestions = document.getElementById('user-suggestions');
    this.lists = {
      incoming: document.getElementById('incoming-list'),
      outgoing: document.getElementById('outgoing-list'),
      friends: document.getElementById('friend-list'),
      blocked: document.getElementById('block-list'),
    };
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.addFriend();
    });
    this.input.addEventListener('input', () => this.suggest());
    for (const name of ['friends', 'requests', 'blocks', 'me']) {
      this.store.on(name, () => this.render());
    }
  }

  show() {
    this.root.hidden = false;
    this.render();
    // Blocks and requests made in another session send no event to this one.
    Promise.all([this.session.loadBlocks(), this.session.loadRequests()]).catch(() => {});
  }

  hide() {
    this.root.hidden = true;
  }

  async addFriend() {
    const to = this.input.value.trim();
    formError(this.form, null);
    if (!to) {
      formError(this.form, { describe: () => 'Type the username of the person to add.' });
      this.input.focus();
      return;
    }
    try {
      const request = await this.session.sendFriendRequest(to);
      this.input.value = '';
      const other = this.store.isMe(request.from) ? request.to : request.from;
      const status = document.getElementById('add-friend-status');
      status.textContent =
        request.status === 'accepted'
          ? `You and ${other.username} are now friends.`
          : `Friend request sent to ${other.username}.`;
    } catch (error) {
      formError(this.form, error);
      this.input.focus();
    }
  }

  suggest() {
    clearTimeout(this.suggestTimer);
    const q = this.input.value.trim();
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,31}$/.test(q)) return;
    this.suggestTimer = setTimeout(async () => {
      try {
        const page = await this.session.api.users(q, 8);
        this.suggestions.replaceChildren(
          ...page.items
            .filter((user) => !this.store.isMe(user))
            .map((user) => h('option', { value: user.username, label: user.display_name })),
        );
      } catch {
        // suggestions are a nicety; typing the whole name still works
      }
    }, 250);
  }

  render() {
    if (this.root.hidden || !this.store.me) return;
    const store = this.store;
    const session = this.session;
    const empty = (text) => h('li', { class: 'empty', text });

    const incoming = store.incomingRequests();
    replaceKeepingFocus(
      this.lists.incoming,
      incoming.length
        ? incoming.map((request) =>
            personRow(request.from, {
              key: 'in-',
              note: 'wants to be your friend',
              actions: [
                {
                  label: 'Accept',
                  kind: 'primary',
                  onclick: () => attempt(() => session.answerFriendRequest(request.id, 'accepted')),
                },
                {
                  label: 'Decline',
                  onclick: () => attempt(() => session.answerFriendRequest(request.id, 'rejected')),
                },
                { label: 'Block', kind: 'danger', onclick: () => this.block(request.from) },
              ],
            }),
          )
        : [empty('No requests waiting for you.')],
    );
    document.getElementById('incoming-count').textContent = incoming.length
      ? ` (${incoming.length})`
      : '';

    const outgoing = store.outgoingRequests();
    replaceKeepingFocus(
      this.lists.outgoing,
      outgoing.length
        ? outgoing.map((request) =>
            personRow(request.to, {
              key: 'out-',
              note: 'request pending',
              actions: [
                {
                  label: 'Withdraw',
                  onclick: () => attempt(() => session.withdrawFriendRequest(request.id)),
                },
              ],
            }),
          )
        : [empty('No requests waiting for an answer.')],
    );

    const friends = [...store.friends.values()].sort((a, b) =>
      a.user.username.localeCompare(b.user.username),
    );
    replaceKeepingFocus(
      this.lists.friends,
      friends.length
        ? friends.map(({ user }) =>
            personRow(user, {
              key: 'friend-',
              actions: [
                { label: 'Message', kind: 'primary', onclick: () => this.message(user) },
                { label: 'Unfriend', onclick: () => this.unfriend(user) },
                { label: 'Block', kind: 'danger', onclick: () => this.block(user) },
              ],
            }),
          )
        : [empty('No friends yet: add someone by their username above.')],
    );

    const blocked = [...store.blocks.values()];
    replaceKeepingFocus(
      this.lists.blocked,
      blocked.length
        ? blocked.map(({ user }) =>
            personRow(user, {
              key: 'blocked-',
              actions: [{ label: 'Unblock', onclick: () => attempt(() => session.unblock(user.id)) }],
            }),
          )
        : [empty('You block no one.')],
    );
  }

  async message(user) {
    await attempt(async () => {
      const chat = await this.session.createChat([user.id]);
      window.location.hash = `#chat/${chat.id}`;
    });
  }

  async unfriend(user) {
    const ok = await confirmDialog(
      `Remove ${user.username} from your friends? You will no longer be able to message them.`,
      'Unfriend',
    );
    if (ok) await attempt(() => this.session.unfriend(user.id));
  }

  async block(user) {
    const ok = await confirmDialog(
      `Block ${user.username}? This ends your friendship and any pending requests, and hides their messages from you.`,
      'Block',
    );
    if (ok) await attempt(() => this.session.block(user.id));
  }
}
