// Dialogs (native <dialog>: focus stays inside, Escape closes, focus returns after):
// starting a chat, a chat's details (rename, members, leave), and the account.

import { describe } from '../api.js';
import { h, nameOf } from '../dom.js';
import { attempt, confirmDialog, formError } from '../ui.js';
import { personRow } from './people.js';

const message = (text) => ({ describe: () => text });

export class NewChatDialog {
  constructor(session) {
    this.session = session;
    this.store = session.store;
    this.dialog = document.getElementById('new-chat-dialog');
    this.form = document.getElementById('new-chat-form');
    this.people = document.getElementById('new-chat-people');
    this.none = document.getElementById('new-chat-none');
    this.name = document.getElementById('new-chat-name');
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.create();
    });
    this.none.querySelector('a').addEventListener('click', () => this.dialog.close());
  }

  open() {
    formError(this.form, null);
    this.name.value = '';
    const friends = [...this.store.friends.values()].sort((a, b) =>
      a.user.username.localeCompare(b.user.username),
    );
    this.people.replaceChildren(
      ...friends.map(({ user }) => {
        const id = `new-chat-user-${user.id}`;
        return h(
          'div',
          { class: 'check' },
          h('input', { type: 'checkbox', id, value: String(user.id), name: 'participant' }),
          h('label', { for: id, text: `${nameOf(user)} (@${user.username})` }),
        );
      }),
    );
    this.none.hidden = friends.length > 0;
    this.people.closest('fieldset').hidden = friends.length === 0;
    this.dialog.showModal();
    (this.people.querySelector('input') ?? this.dialog.querySelector('[data-close]')).focus();
  }

  async create() {
    formError(this.form, null);
    const ids = [...this.people.querySelectorAll('input:checked')].map((box) => Number(box.value));
    if (!ids.length) {
      formError(this.form, message('Choose at least one friend.'));
      return;
    }
    try {
      const chat = await this.session.createChat(ids, this.name.value.trim() || null);
      this.dialog.close();
      window.location.hash = `#chat/${chat.id}`;
    } catch (error) {
      formError(this.form, error);
    }
  }
}

export class DetailsDialog {
  constructor(session) {
    this.session = session;
    this.store = session.store;
    this.chatId = null;
    this.dialog = document.getElementById('details-dialog');
    this.title = document.getElementById('details-title');
    this.info = document.getElementById('details-info');
    this.renameForm = document.getElementById('rename-form');
    this.renameInput = document.getElementById('rename-input');
    this.members = document.getElementById('member-list');
    this.addForm = document.getElementById('add-member-form');
    this.addSelect = document.getElementById('add-member-select');
    this.leaveButton = document.getElementById('leave-button');
    this.renameForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.rename();
    });
    this.addForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.add();
    });
    this.leaveButton.addEventListener('click', () => this.leave());
    this.dialog.addEventListener('close', () => {
      this.chatId = null;
    });
    const refresh = () => this.chatId !== null && this.render();
    for (const name of ['chats', 'participants', 'friends', 'blocks']) this.store.on(name, refresh);
    this.store.on('left', ({ chatId }) => chatId === this.chatId && this.dialog.close());
  }

  get chat() {
    return this.store.chats.get(this.chatId);
  }

  open(chatId) {
    this.chatId = chatId;
    if (!this.chat) return;
    formError(this.renameForm, null);
    formError(this.addForm, null);
    this.renameInput.value = this.chat.name ?? '';
    this.render();
    this.dialog.showModal();
    this.session.loadParticipants(chatId).catch(() => {});
  }

  render() {
    const chat = this.chat;
    if (!chat) return;
    const store = this.store;
    const group = chat.kind === 'group';
    const creator = store.isMe(chat.created_by);
    this.title.textContent = store.chatTitle(chat);
    this.info.textContent = group
      ? `Group · ${chat.participants.length} member${chat.participants.length === 1 ? '' : 's'}`
      : 'Direct chat';
    this.renameForm.hidden = !group;
    this.addForm.hidden = !group;
    this.leaveButton.hidden = !group;

    const people = store.participants.get(chat.id);
    const members = [...chat.participants].sort((a, b) => a.username.localeCompare(b.username));
    this.members.replaceChildren(
      ...members.map((user) => {
        const me = store.isMe(user);
        const notes = [];
        if (me) notes.push('you');
        if (group && user.id === chat.created_by) notes.push('created the group');
        const read = people?.get(user.id)?.last_read_seq;
        if (!me && read && chat.last_message && read >= chat.last_message.seq) notes.push('seen all');
        const actions = [];
        if (!me && group && creator) {
          actions.push({ label: 'Remove', onclick: () => this.remove(user) });
        }
        if (!me && !group && store.friends.has(user.id)) {
          actions.push({ label: 'Unfriend', onclick: () => this.unfriend(user) });
        }
        if (!me && !store.blocked(user.id)) {
          actions.push({ label: 'Block', kind: 'danger', onclick: () => this.block(user) });
        }
        if (!me && store.blocked(user.id)) {
          actions.push({
            label: 'Unblock',
            onclick: () => attempt(() => this.session.unblock(user.id)),
          });
        }
        return personRow(user, { note: notes.join(', '), actions, key: 'member-' });
      }),
    );

    if (group) {
      const inside = new Set(chat.participants.map((p) => p.id));
      const candidates = [...store.friends.values()]
        .map((f) => f.user)
        .filter((user) => !inside.has(user.id))
        .sort((a, b) => a.username.localeCompare(b.username));
      this.addSelect.replaceChildren(
        ...(candidates.length
          ? candidates.map((user) =>
              h('option', { value: String(user.id), text: `${nameOf(user)} (@${user.username})` }),
            )
          : [h('option', { value: '', text: 'All your friends are here' })]),
      );
      this.addSelect.disabled = !candidates.length;
      this.addForm.querySelector('button').disabled = !candidates.length;
    }
  }

  async rename() {
    formError(this.renameForm, null);
    const name = this.renameInput.value.trim();
    try {
      // An empty name takes the group's name away (it then shows its members).
      await this.session.rename(this.chatId, name || null);
    } catch (error) {
      formError(this.renameForm, error);
    }
  }

  async add() {
    formError(this.addForm, null);
    const userId = Number(this.addSelect.value);
    if (!userId) return;
    try {
      await this.session.addMember(this.chatId, userId);
    } catch (error) {
      formError(this.addForm, error);
    }
  }

  async remove(user) {
    const chatId = this.chatId;
    const ok = await confirmDialog(`Remove ${user.username} from this group?`, 'Remove');
    if (ok) await attempt(() => this.session.removeMember(chatId, user.id));
  }

  async unfriend(user) {
    const ok = await confirmDialog(`Remove ${user.username} from your friends?`, 'Unfriend');
    if (ok) await attempt(() => this.session.unfriend(user.id));
  }

  async block(user) {
    const ok = await confirmDialog(
      `Block ${user.username}? This ends your friendship and hides their messages from you.`,
      'Block',
    );
    if (ok) await attempt(() => this.session.block(user.id));
  }

  async leave() {
    const chatId = this.chatId;
    const ok = await confirmDialog('Leave this group? You will no longer see its messages.', 'Leave');
    if (!ok) return;
    if (await attempt(() => this.session.leave(chatId))) {
      if (this.dialog.open) this.dialog.close();
      window.location.hash = '';
    }
  }
}

export class AccountDialog {
  constructor(session, { logOut, logOutEverywhere }) {
    this.session = session;
    this.store = session.store;
    this.dialog = document.getElementById('account-dialog');
    this.who = document.getElementById('account-who');
    this.passwordForm = document.getElementById('password-form');
    this.inviteButton = document.getElementById('invite-button');
    this.inviteOutput = document.getElementById('invite-output');
    document.getElementById('logout-button').addEventListener('click', () => logOut());
    document
      .getElementById('logout-everywhere-button')
      .addEventListener('click', () => logOutEverywhere());
    this.passwordForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.changePassword();
    });
    this.inviteButton.addEventListener('click', () => this.invite());
  }

  open() {
    const me = this.store.me;
    this.who.textContent = `${nameOf(me)} (@${me.username})`;
    this.passwordForm.reset();
    document.getElementById('account-username').value = me.username;
    formError(this.passwordForm, null);
    document.getElementById('password-status').textContent = '';
    this.inviteOutput.hidden = true;
    document.getElementById('invite-status').textContent = '';
    this.dialog.showModal();
  }

  async changePassword() {
    formError(this.passwordForm, null);
    const old = document.getElementById('old-password').value;
    const fresh = document.getElementById('new-password').value;
    try {
      await this.session.api.changePassword(old, fresh);
      this.passwordForm.reset();
      document.getElementById('password-status').textContent =
        'Password changed. Your other sessions are logged out.';
    } catch (error) {
      formError(this.passwordForm, error);
    }
  }

  async invite() {
    const status = document.getElementById('invite-status');
    status.textContent = '';
    try {
      const invite = await this.session.api.createInvite();
      this.inviteOutput.value = invite.code;
      this.inviteOutput.hidden = false;
      this.inviteOutput.select();
      status.textContent = `One use, valid until ${new Date(invite.expires_at).toLocaleString()}.`;
    } catch (error) {
      status.textContent = describe(error);
    }
  }
}
