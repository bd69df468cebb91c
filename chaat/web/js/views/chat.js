// One open chat: its history (scrolling back loads older pages), the composer, replies,
// edits, deletions, reactions, "seen by" and "typing…".
//
// The message list is rendered from the store by reconciling: one <li> per seq, kept
// while its message is the same object, replaced when it changes, inserted in seq
// order. So a message that arrives twice (the answer to our POST, its live event, a
// replay after a reconnection) is still shown once.
//
// Keyboard: the list is one stop in the tab order. Arrow keys move between messages;
// Tab from a message reaches its actions (Reply, React, Edit, Delete). In the
// composer Enter sends, Shift+Enter starts a new line, Escape cancels a reply or an
// edit, and Arrow Up in an empty composer edits your last message.

import { avatar, clock, dayKey, dayLabel, fullTime, h, icon, listNames, nameOf } from '../dom.js';
import { attempt, confirmDialog, showError, toast } from '../ui.js';

const QUICK_EMOJI = ['👍', '❤️', '😂', '😮', '😢', '🎉', '🙏', '👀'];
const GROUP_GAP = 5 * 60 * 1000; // one sender's messages closer than this share a header
const NEAR = 80; // px from an end of the list that still counts as "at" it
const LOAD_AHEAD = 300; // px from an end of the list where the next page starts loading

export class ChatView {
  constructor(session, { openDetails }) {
    this.session = session;
    this.store = session.store;
    this.openDetails = openDetails;
    this.chatId = null;
    this.elements = new Map(); // seq -> <li>
    this.current = null; // the <li> that holds the list's tab stop
    this.mode = null; // {kind: 'reply' | 'edit', message}
    this.drafts = new Map(); // chat id -> unsent text
    this.stickToBottom = true;
    this.scheduled = false;
    this.highlightSeq = null;

    const byId = (id) => document.getElementById(id);
    this.root = byId('chat-view');
    this.title = byId('chat-title');
    this.subtitle = byId('chat-subtitle');
    this.avatarSlot = byId('chat-avatar');
    this.scroller = byId('message-scroller');
    this.list = byId('message-list');
    this.outboxList = byId('outbox-list');
    this.olderButton = byId('load-older');
    this.historyStart = byId('history-start');
    this.typingLine = byId('typing');
    this.jumpButton = byId('jump-latest');
    this.form = byId('composer');
    this.input = byId('composer-input');
    this.context = byId('composer-context');
    this.contextText = byId('composer-context-text');
    this.picker = byId('emoji-picker');

    byId('chat-details-button').addEventListener('click', () => this.openDetails(this.chatId));
    byId('composer-cancel').addEventListener('click', () => this.cancelMode());
    this.olderButton.addEventListener('click', () => this.loadOlder());
    this.jumpButton.addEventListener('click', () => this.jumpToLatest());
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.list.addEventListener('click', (event) => this.onListClick(event));
    this.outboxList.addEventListener('click', (event) => this.onOutboxClick(event));
    this.list.addEventListener('keydown', (event) => this.onListKey(event));
    this.list.addEventListener('focusin', (event) => {
      const item = event.target.closest('li.message');
      if (item) this.setCurrent(item);
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener('keydown', (event) => this.onComposerKey(event));
    this.input.addEventListener('input', () => this.onInput());
    this.picker.addEventListener('click', (event) => this.onPickerClick(event));
    this.picker.addEventListener('keydown', (event) => this.onPickerKey(event));
    document.addEventListener('pointerdown', (event) => {
      if (!this.picker.hidden && !this.picker.contains(event.target)) this.closePicker(false);
    });
    document.addEventListener('visibilitychange', () => this.seen());

    const store = this.store;
    const mine = (fn) => (detail) => {
      const chatId = typeof detail === 'object' && detail !== null ? detail.chatId : detail;
      if (chatId === this.chatId && this.chatId !== null) fn(detail);
    };
    store.on('messages', mine((detail) => {
      if (detail.reset) this.stickToBottom = this.highlightSeq === null;
      if (detail.sent) this.stickToBottom = true;
      this.schedule();
    }));
    store.on('participants', mine(() => this.schedule()));
    store.on('typing', mine(() => this.renderTyping()));
    store.on('chats', () => this.chatId !== null && this.renderHeader());
    store.on('blocks', () => this.chatId !== null && this.schedule());
    store.on('left', mine(({ byMe }) => {
      if (!byMe) toast('You are no longer in that chat.');
      window.location.hash = '';
    }));
  }

  get history() {
    return this.session.history(this.chatId);
  }

  get chat() {
    return this.store.chats.get(this.chatId);
  }

  /** Show chatId (and, if given, bring message seq into view). */
  async show(chatId, seq = null) {
    if (chatId !== this.chatId) {
      this.closePicker(false);
      this.saveDraft();
      this.cancelMode({ keepText: true });
      this.chatId = chatId;
      this.elements.clear();
      this.current = null;
      this.list.replaceChildren();
      this.outboxList.replaceChildren();
      this.input.value = this.drafts.get(chatId) ?? '';
      this.resizeInput();
      this.stickToBottom = true;
      this.renderHeader();
      this.renderTyping();
    }
    this.root.hidden = false;
    this.highlightSeq = seq;
    try {
      if (seq !== null) {
        await this.session.jumpTo(chatId, seq);
      } else {
        await this.session.openChat(chatId);
        if (this.history && !this.history.atEnd) await this.session.loadLatest(chatId);
      }
    } catch (error) {
      if (chatId !== this.chatId) return;
      if (error.status === 404) {
        toast('That chat does not exist, or you are not in it.', { error: true });
        window.location.hash = '';
      } else {
        showError(error);
      }
      return;
    }
    if (chatId !== this.chatId) return;
    this.render();
    if (seq !== null) this.highlight(seq);
  }

  hide() {
    this.root.hidden = true;
    this.closePicker(false);
    this.saveDraft();
    this.cancelMode({ keepText: true });
    this.chatId = null;
    this.session.closeChat();
  }

  /** Keep what was typed for when the chat opens again (an edit is not a draft). */
  saveDraft() {
    if (this.chatId !== null && this.mode?.kind !== 'edit') {
      this.drafts.set(this.chatId, this.input.value);
    }
  }

  focusComposer() {
    this.input.focus();
  }

  // Header and typing ----------------------------------------------------------------

  renderHeader() {
    const chat = this.chat;
    if (!chat) return;
    const title = this.store.chatTitle(chat);
    this.title.textContent = title;
    this.avatarSlot.replaceChildren(
      avatar(title, this.store.chatColour(chat), chat.kind === 'group' ? 'group' : ''),
    );
    if (chat.kind === 'group') {
      const count = chat.participants.length;
      this.subtitle.textContent = `Group · ${count} member${count === 1 ? '' : 's'}`;
    } else {
      const other = chat.participants.find((p) => !this.store.isMe(p));
      this.subtitle.textContent = other ? `@${other.username}` : '';
    }
  }

  renderTyping() {
    const typing = [...(this.store.typing.get(this.chatId)?.values() ?? [])];
    const names = typing.map((t) => nameOf(this.store.user(t.user.id, this.chatId) ?? t.user));
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length > 1 && names.length <= 3) text = `${listNames(names)} are typing…`;
    else if (names.length > 3) text = `${names.length} people are typing…`;
    this.typingLine.textContent = text;
    this.typingLine.classList.toggle('active', Boolean(text));
  }

  // The message list -------------------------------------------------------------------

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.chatId !== null) this.render();
    });
  }

  distanceFromBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight;
  }

  render() {
    const history = this.history;
    if (!history) return;
    const scroller = this.scroller;
    const atBottom = this.stickToBottom || this.distanceFromBottom() < NEAR;
    // Keep what the reader looks at in place while pages come and go around it.
    let anchor = null;
    if (!atBottom) {
      const top = scroller.getBoundingClientRect().top;
      for (const item of this.list.children) {
        const rect = item.getBoundingClientRect();
        if (rect.bottom > top) {
          anchor = { seq: Number(item.dataset.seq), offset: rect.top - top };
          break;
        }
      }
    }

    const seqs = history.seqs();
    const wanted = new Set(seqs);
    for (const [seq, item] of this.elements) {
      if (!wanted.has(seq)) {
        item.remove();
        this.elements.delete(seq);
      }
    }
    let previous = null;
    for (const seq of seqs) {
      const message = history.messages.get(seq);
      let item = this.elements.get(seq);
      const key = this.renderKey(message);
      if (!item || item.renderKey !== key) {
        const fresh = this.messageItem(message);
        fresh.renderKey = key;
        if (item) {
          const hadFocus = item.contains(document.activeElement);
          const focusKey = document.activeElement?.dataset?.key;
          item.replaceWith(fresh);
          if (this.current === item) this.current = fresh;
          if (hadFocus) {
            const again = focusKey && fresh.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
            (again || fresh).focus({ preventScroll: true });
          }
        }
        item = fresh;
        this.elements.set(seq, item);
      }
      const next = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (item !== next) this.list.insertBefore(item, next);
      previous = item;
    }
    this.layout(seqs);
    this.renderOutbox();

    this.olderButton.hidden = !history.hasMoreBefore;
    this.historyStart.hidden = history.hasMoreBefore || !history.loaded;
    this.historyStart.textContent = seqs.length
      ? 'This is the beginning of the chat.'
      : 'No messages yet. Say hello!';

    if (atBottom && history.atEnd) {
      scroller.scrollTop = scroller.scrollHeight;
    } else if (anchor && this.elements.has(anchor.seq)) {
      const top = scroller.getBoundingClientRect().top;
      const item = this.elements.get(anchor.seq);
      scroller.scrollTop += item.getBoundingClientRect().top - top - anchor.offset;
    }
    this.stickToBottom = false;
    this.updateJumpButton();
    this.seen();
    // A first page shorter than the screen: fetch more until it scrolls.
    if (history.hasMoreBefore && scroller.scrollHeight <= scroller.clientHeight + LOAD_AHEAD) {
      this.loadOlder();
    }
  }

  /** What a message's <li> depends on: when this changes, it is rendered again. */
  renderKey(message) {
    const quoted = message.reply_to ? this.history.get(message.reply_to) : null;
    const sender = this.store.user(message.sender.id, this.chatId);
    return [
      message.edited_at,
      message.deleted_at,
      message.body,
      JSON.stringify(message.reactions),
      quoted ? `${quoted.body}|${quoted.deleted_at}` : '',
      this.store.blocked(message.sender.id),
      nameOf(sender ?? message.sender),
      this.chat?.created_by,
    ].join('\u0000');
  }

  messageItem(message) {
    const store = this.store;
    const chat = this.chat;
    const mine = store.isMe(message.sender);
    const deleted = Boolean(message.deleted_at);
    const hidden = !mine && store.blocked(message.sender.id);
    const sender = store.user(message.sender.id, this.chatId) ?? message.sender;
    const senderName = mine ? 'You' : nameOf(sender);
    const classes = ['message'];
    if (mine) classes.push('mine');
    if (deleted) classes.push('deleted');
    const item = h('li', {
      class: classes.join(' '),
      tabindex: '-1',
      dataset: { seq: String(message.seq), sender: String(message.sender.id) },
    });
    item.append(h('div', { class: 'day-separator', role: 'separator', hidden: true }));

    const meta = h(
      'div',
      { class: 'meta' },
      h('span', { class: 'sender', text: senderName }),
      h('time', {
        datetime: message.created_at,
        title: fullTime(message.created_at),
        text: clock(message.created_at),
      }),
      message.edited_at && !deleted
        ? h('span', { class: 'edited', title: `Edited ${fullTime(message.edited_at)}` }, 'edited')
        : null,
    );
    const bubble = h('div', { class: 'bubble' }, meta);

    if (message.reply_to) bubble.append(this.quoteButton(message.reply_to));

    if (deleted) {
      bubble.append(h('p', { class: 'body tombstone', text: 'This message was deleted.' }));
    } else if (hidden) {
      bubble.append(h('p', { class: 'body tombstone', text: 'Message from someone you blocked.' }));
    } else {
      bubble.append(h('p', { class: 'body', text: message.body }));
    }

    if (message.reactions.length && !hidden) {
      const reactions = h('ul', { class: 'reactions', 'aria-label': 'Reactions' });
      for (const reaction of message.reactions) {
        const names = reaction.user_ids.map((id) =>
          store.isMe(id) ? 'you' : nameOf(store.user(id, this.chatId) ?? { username: `user ${id}` }),
        );
        const pressed = reaction.user_ids.includes(store.me.id);
        reactions.append(
          h(
            'li',
            {},
            h(
              'button',
              {
                type: 'button',
                class: 'reaction',
                'aria-pressed': pressed ? 'true' : 'false',
                'aria-label': `${reaction.emoji} ${reaction.user_ids.length}: ${listNames(names)}`,
                title: listNames(names),
                dataset: { action: 'react', emoji: reaction.emoji, key: `react-${reaction.emoji}` },
              },
              h('span', { class: 'emoji', text: reaction.emoji }),
              h('span', { class: 'count', text: String(reaction.user_ids.length) }),
            ),
          ),
        );
      }
      bubble.append(reactions);
    }
    item.append(bubble);

    if (!deleted) {
      const canDelete = mine || (chat?.kind === 'group' && store.isMe(chat.created_by));
      const action = (name, label, picture) =>
        h(
          'button',
          {
            type: 'button',
            class: `action action-${name}`,
            dataset: { action: name, key: `action-${name}` },
            'aria-label': label,
            title: label,
          },
          icon(picture),
        );
      item.append(
        h(
          'div',
          { class: 'actions', role: 'group', 'aria-label': `Actions for ${senderName}'s message` },
          hidden ? null : action('reply', 'Reply', 'reply'),
          hidden ? null : action('react-menu', 'React', 'react'),
          mine ? action('edit', 'Edit', 'edit') : null,
          canDelete ? action('delete', 'Delete', 'delete') : null,
        ),
      );
    }
    item.append(h('p', { class: 'seen', hidden: true }));
    for (const button of item.querySelectorAll('button')) button.tabIndex = -1;
    return item;
  }

  quoteButton(seq) {
    const quoted = this.history.get(seq);
    if (quoted === undefined) this.session.quote(this.chatId, seq);
    let who = 'a message';
    let text = '…';
    if (quoted) {
      who = this.store.isMe(quoted.sender)
        ? 'You'
        : nameOf(this.store.user(quoted.sender.id, this.chatId) ?? quoted.sender);
      if (quoted.deleted_at) text = 'This message was deleted.';
      else if (!this.store.isMe(quoted.sender) && this.store.blocked(quoted.sender.id)) {
        text = 'Message from someone you blocked.';
      } else text = quoted.body;
    }
    return h(
      'button',
      {
        type: 'button',
        class: 'quote',
        dataset: { action: 'goto', seq: String(seq), key: 'quote' },
        'aria-label': `In reply to ${who}: ${text}. Show that message.`,
      },
      h('span', { class: 'quote-sender', text: who }),
      h('span', { class: 'quote-body', text }),
    );
  }

  /** Headers shared by a run of messages, day separators, "seen by", the tab stop. */
  layout(seqs) {
    const history = this.history;
    const store = this.store;
    // Where each other participant has read up to: under that message, "Seen by …".
    const seenAt = new Map();
    const people = store.participants.get(this.chatId);
    if (people && seqs.length) {
      for (const person of people.values()) {
        if (store.isMe(person.user)) continue;
        const at = Math.min(person.last_read_seq, history.hi);
        if (at < history.lo || !history.messages.has(at)) continue;
        if (history.messages.get(at).sender.id === person.user.id) continue; // their own
        if (!seenAt.has(at)) seenAt.set(at, []);
        seenAt.get(at).push(nameOf(person.user));
      }
    }
    let previous = null;
    for (const seq of seqs) {
      const message = history.messages.get(seq);
      const item = this.elements.get(seq);
      const separator = item.firstElementChild;
      const newDay = !previous || dayKey(previous.created_at) !== dayKey(message.created_at);
      separator.hidden = !newDay;
      if (newDay) separator.textContent = dayLabel(message.created_at);
      const continued =
        previous &&
        !newDay &&
        previous.sender.id === message.sender.id &&
        Date.parse(message.created_at) - Date.parse(previous.created_at) < GROUP_GAP;
      item.classList.toggle('continued', Boolean(continued));
      const seen = item.lastElementChild;
      const readers = seenAt.get(seq);
      seen.hidden = !readers;
      seen.textContent = readers ? `Seen by ${listNames(readers)}` : '';
      previous = message;
    }
    if (!this.current || !this.current.isConnected) {
      this.setCurrent(this.list.lastElementChild);
    } else {
      this.setCurrent(this.current);
    }
  }

  /** Give item the list's one tab stop (and its buttons a place in the tab order). */
  setCurrent(item) {
    if (this.current && this.current !== item && this.current.isConnected) {
      this.current.tabIndex = -1;
      for (const button of this.current.querySelectorAll('button')) button.tabIndex = -1;
    }
    this.current = item;
    if (!item) return;
    item.tabIndex = 0;
    for (const button of item.querySelectorAll('button')) button.tabIndex = 0;
  }

  renderOutbox() {
    const items = [];
    for (const entry of this.store.outbox.values()) {
      if (entry.chatId !== this.chatId) continue;
      const status = {
        sending: 'Sending…',
        waiting: 'Waiting for the connection…',
        failed: `Not sent: ${entry.error}`,
      }[entry.state];
      const item = h(
        'li',
        { class: `message mine pending ${entry.state}`, dataset: { clientId: entry.clientId } },
        h(
          'div',
          { class: 'bubble' },
          entry.replyTo ? this.quoteButton(entry.replyTo) : null,
          h('p', { class: 'body', text: entry.body }),
          h('p', { class: 'status', role: entry.state === 'failed' ? 'alert' : null, text: status }),
        ),
      );
      if (entry.state === 'failed') {
        item.append(
          h(
            'div',
            { class: 'actions visible' },
            h('button', { type: 'button', dataset: { outbox: 'retry' }, text: 'Try again' }),
            h('button', { type: 'button', dataset: { outbox: 'discard' }, text: 'Discard' }),
          ),
        );
      }
      items.push(item);
    }
    this.outboxList.replaceChildren(...items);
  }

  // Scrolling --------------------------------------------------------------------------

  onScroll() {
    const history = this.history;
    if (!history) return;
    if (this.scroller.scrollTop < LOAD_AHEAD && history.hasMoreBefore) this.loadOlder();
    if (this.distanceFromBottom() < LOAD_AHEAD && !history.atEnd) {
      this.session.loadNewer(this.chatId).catch(showError);
    }
    this.updateJumpButton();
    this.seen();
  }

  loadOlder() {
    const history = this.history;
    if (!history || history.loadingOlder) return;
    this.olderButton.textContent = 'Loading older messages…';
    this.session
      .loadOlder(this.chatId)
      .catch(showError)
      .finally(() => {
        this.olderButton.textContent = 'Load older messages';
      });
  }

  updateJumpButton() {
    const history = this.history;
    const away = this.distanceFromBottom() > NEAR * 3;
    this.jumpButton.hidden = !history || (history.atEnd && !away);
    const unread = this.chat?.unread_count ?? 0;
    this.jumpButton.textContent = unread ? `${unread} new ↓` : 'Jump to latest ↓';
  }

  async jumpToLatest() {
    if (!this.history?.atEnd) await this.session.loadLatest(this.chatId).catch(showError);
    this.stickToBottom = true;
    this.render();
    this.input.focus();
  }

  /** When the newest message is in view of a reader, mark the chat read. */
  seen() {
    if (this.chatId === null || this.root.hidden || document.visibilityState !== 'visible') return;
    if (this.distanceFromBottom() < NEAR && this.history?.atEnd) this.session.markSeen(this.chatId);
  }

  highlight(seq) {
    const item = this.elements.get(seq);
    this.highlightSeq = null;
    if (!item) return;
    item.scrollIntoView({ block: 'center' });
    item.classList.add('highlight');
    setTimeout(() => item.classList.remove('highlight'), 2000);
    this.setCurrent(item);
    item.focus({ preventScroll: true });
  }

  // Acting on messages -------------------------------------------------------------------

  messageOf(item) {
    return this.history?.messages.get(Number(item.dataset.seq)) ?? null;
  }

  onListClick(event) {
    const button = event.target.closest('button[data-action]');
    const item = event.target.closest('li.message');
    if (!button || !item) return;
    const message = this.messageOf(item);
    if (!message) return;
    switch (button.dataset.action) {
      case 'reply':
        this.startReply(message);
        break;
      case 'react-menu':
        this.openPicker(button, message);
        break;
      case 'react':
        attempt(() => this.session.toggleReaction(this.chatId, message, button.dataset.emoji));
        break;
      case 'edit':
        this.startEdit(message);
        break;
      case 'delete':
        this.confirmDelete(message);
        break;
      case 'goto':
        this.goTo(Number(button.dataset.seq));
        break;
      default:
        break;
    }
  }

  onOutboxClick(event) {
    const button = event.target.closest('button[data-outbox]');
    if (!button) return;
    const clientId = button.closest('li').dataset.clientId;
    const entry = this.store.outbox.get(clientId);
    if (!entry) return;
    if (button.dataset.outbox === 'retry') this.session.deliver(entry);
    else this.session.discard(clientId);
  }

  onListKey(event) {
    const item = event.target;
    if (!(item instanceof HTMLLIElement) || !item.classList.contains('message')) return;
    let target = null;
    if (event.key === 'ArrowUp') target = item.previousElementSibling;
    else if (event.key === 'ArrowDown') target = item.nextElementSibling;
    else if (event.key === 'Home') target = this.list.firstElementChild;
    else if (event.key === 'End') target = this.list.lastElementChild;
    else if (event.key === 'Escape') {
      event.preventDefault();
      this.input.focus();
      return;
    } else return;
    event.preventDefault();
    if (target) {
      this.setCurrent(target);
      target.focus();
    } else if (event.key === 'ArrowUp' && this.history?.hasMoreBefore) {
      this.loadOlder();
    }
  }

  goTo(seq) {
    if (this.elements.has(seq)) this.highlight(seq);
    else window.location.hash = `#chat/${this.chatId}/${seq}`;
  }

  startReply(message) {
    this.mode = { kind: 'reply', message };
    const who = this.store.isMe(message.sender)
      ? 'yourself'
      : nameOf(this.store.user(message.sender.id, this.chatId) ?? message.sender);
    this.contextText.textContent = '';
    this.contextText.append(
      h('strong', { text: `Replying to ${who}` }),
      h('span', { class: 'context-body', text: message.body ?? '' }),
    );
    this.context.hidden = false;
    this.input.focus();
  }

  startEdit(message) {
    if (message.deleted_at) return;
    if (this.mode?.kind !== 'edit') this.drafts.set(this.chatId, this.input.value);
    this.mode = { kind: 'edit', message };
    this.contextText.textContent = '';
    this.contextText.append(
      h('strong', { text: 'Editing your message' }),
      h('span', { class: 'context-body', text: 'Enter saves, Escape cancels' }),
    );
    this.context.hidden = false;
    this.form.classList.add('editing');
    this.input.value = message.body;
    this.resizeInput();
    this.input.focus();
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
  }

  /** Leave reply or edit mode (an edit gives back the draft it replaced). */
  cancelMode({ keepText = false } = {}) {
    const mode = this.mode;
    this.mode = null;
    this.context.hidden = true;
    this.form.classList.remove('editing');
    if (mode?.kind === 'edit' && !keepText) {
      this.input.value = this.drafts.get(this.chatId) ?? '';
      this.resizeInput();
    }
    if (mode && !keepText) {
      const item = this.elements.get(mode.message.seq);
      if (mode.kind === 'edit' && item && document.activeElement !== this.input) item.focus();
    }
  }

  async confirmDelete(message) {
    const ok = await confirmDialog('Delete this message for everyone?', 'Delete');
    if (!ok) return;
    await attempt(() => this.session.deleteMessage(this.chatId, message.seq));
  }

  async submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    const chatId = this.chatId;
    if (this.mode?.kind === 'edit') {
      const message = this.mode.message;
      if (text !== message.body) {
        try {
          await this.session.edit(chatId, message.seq, text);
        } catch (error) {
          showError(error);
          return;
        }
      }
      if (this.chatId === chatId) this.cancelMode();
      return;
    }
    const replyTo = this.mode?.kind === 'reply' ? this.mode.message.seq : null;
    this.input.value = '';
    this.drafts.delete(chatId);
    this.resizeInput();
    this.cancelMode();
    this.session.send(chatId, text, replyTo);
  }

  onComposerKey(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.submit();
    } else if (event.key === 'Escape' && this.mode) {
      event.preventDefault();
      this.cancelMode();
    } else if (event.key === 'ArrowUp' && !this.input.value && !this.mode) {
      const history = this.history;
      const seqs = history ? history.seqs().reverse() : [];
      for (const seq of seqs) {
        const message = history.messages.get(seq);
        if (this.store.isMe(message.sender) && !message.deleted_at) {
          event.preventDefault();
          this.startEdit(message);
          break;
        }
      }
    }
  }

  onInput() {
    this.resizeInput();
    if (this.input.value.trim() && this.mode?.kind !== 'edit') this.session.typing(this.chatId);
  }

  resizeInput() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
  }

  // The reaction picker --------------------------------------------------------------------

  openPicker(anchor, message) {
    this.pickerFor = { anchor, message };
    this.picker.replaceChildren(
      ...QUICK_EMOJI.map((emoji) =>
        h('button', {
          type: 'button',
          class: 'picker-emoji',
          'aria-label': `React with ${emoji}`,
          dataset: { emoji },
          text: emoji,
        }),
      ),
    );
    this.picker.hidden = false;
    const rect = anchor.getBoundingClientRect();
    const width = this.picker.offsetWidth;
    const left = Math.max(8, Math.min(rect.right - width, window.innerWidth - width - 8));
    const above = rect.top - this.picker.offsetHeight - 6;
    this.picker.style.left = `${left}px`;
    this.picker.style.top = `${above > 8 ? above : rect.bottom + 6}px`;
    this.picker.firstElementChild.focus();
  }

  closePicker(returnFocus = true) {
    if (this.picker.hidden) return;
    this.picker.hidden = true;
    const anchor = this.pickerFor?.anchor;
    this.pickerFor = null;
    if (returnFocus && anchor?.isConnected) anchor.focus();
  }

  onPickerClick(event) {
    const button = event.target.closest('button[data-emoji]');
    if (!button || !this.pickerFor) return;
    const message = this.history?.messages.get(this.pickerFor.message.seq) ?? this.pickerFor.message;
    this.closePicker();
    attempt(() => this.session.toggleReaction(this.chatId, message, button.dataset.emoji));
  }

  onPickerKey(event) {
    const buttons = [...this.picker.querySelectorAll('button')];
    const at = buttons.indexOf(document.activeElement);
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      this.closePicker();
    } else if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
      event.preventDefault();
      const step = event.key === 'ArrowRight' ? 1 : -1;
      buttons[(at + step + buttons.length) % buttons.length].focus();
    } else if (event.key === 'Tab') {
      this.closePicker(); // leaving the picker closes it
    }
  }
}
