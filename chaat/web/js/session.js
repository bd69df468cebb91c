// A logged-in session: loads state through the REST API, keeps it current with the
// live events, and carries out what the person asks (each action is one API call,
// whose answer goes into the store at once; the matching live event, arriving
// before or after it, changes nothing more, since every update is keyed by id or seq).

import { NetworkError, describe } from './api.js';
import { randomId } from './dom.js';
import { LiveEvents } from './live.js';
import { History } from './store.js';

const PAGE = 50;
const CATCH_UP_PAGE = 200;
const TYPING_SHOWN = 5000; // ms a typing notice shows (the contract says about 5 s)
const TYPING_EVERY = 3000; // ms between our own notices while typing
// A typing notice and the message that follows it travel apart (the notice is live
// only, the message through the stream), so the notice can come second: one that
// comes this soon after the same person's message is stale.
const TYPING_AFTER_MESSAGE = 1000; // ms

export class Session {
  /** onEnded(reason): the server no longer accepts our token; back to the login screen. */
  constructor(api, store, { onEnded }) {
    this.api = api;
    this.store = store;
    this.onEnded = onEnded;
    this.live = null;
    this.loaded = false;
    this.stale = false; // the last reload failed: do it again at the next chance
    this.syncing = null;
    this.syncAgain = false;
    this.buffer = null; // events held while a reload runs, applied after it
    this.openChatId = null;
    this.generations = new Map(); // chat id -> how many message events it has had
    this.catchingUp = new Map(); // chat id -> promise
    this.typingTimers = new Map();
    this.typingSent = new Map();
    this.lastSent = new Map(); // "chat:user" -> when their last message came (ms)
  }

  start(me, token) {
    this.epoch = (this.epoch ?? 0) + 1; // answers for an earlier login are dropped
    this.loaded = false;
    this.stale = false;
    this.buffer = null;
    this.openChatId = null;
    this.store.reset(me);
    this.store.changed('me');
    this.live = new LiveEvents({
      token,
      onEvent: (event) => this.receive(event),
      onReady: (info) => this.ready(info),
      onStatus: (status) => {
        this.store.connection = status;
        this.store.changed('connection', status);
      },
      onRejected: () => this.onEnded('Your session has ended. Please log in again.'),
    });
    this.live.start();
    // The first load normally follows `ready` (so that no event falls between the
    // two); if live events cannot connect, load anyway.
    this.fallback = setTimeout(() => {
      if (!this.loaded) this.resync();
    }, 3000);
  }

  stop() {
    this.epoch = (this.epoch ?? 0) + 1;
    this.live?.stop();
    this.live = null;
    clearTimeout(this.fallback);
    for (const timer of this.typingTimers.values()) clearTimeout(timer);
    this.typingTimers.clear();
  }

  ready({ initial, resumed }) {
    // A resumed connection replays what we missed; any other one may have missed
    // events for good, so reload everything through the REST API.
    if (initial || !resumed || this.stale) this.resync();
    this.flushOutbox();
  }

  // Loading everything ------------------------------------------------------------

  async resync() {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.buffer = this.buffer ?? [];
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        try {
          await this.loadEverything();
          this.stale = false;
        } catch (error) {
          this.stale = true;
          console.warn('reload failed:', describe(error));
        }
      } while (this.syncAgain);
    })();
    try {
      await this.syncing;
    } finally {
      this.syncing = null;
      const held = this.buffer ?? [];
      this.buffer = null;
      for (const event of held) this.apply(event);
    }
  }

  async loadEverything() {
    const { api, store } = this;
    const epoch = this.epoch;
    const [me, chats, friends, requests, blocks] = await Promise.all([
      api.me(),
      api.chats(),
      api.friends(),
      api.friendRequests({ status: 'pending' }),
      api.blocks(),
    ]);
    if (epoch !== this.epoch) return; // logged out meanwhile
    store.me = me;
    store.chats = new Map(chats.items.map((chat) => [chat.id, chat]));
    store.friends = new Map(friends.items.map((f) => [f.user.id, f]));
    store.requests = new Map(requests.items.map((r) => [r.id, r]));
    store.blocks = new Map(blocks.items.map((b) => [b.user.id, b]));
    // Loaded histories may have missed edits: forget them; the open chat reloads.
    store.histories = new Map();
    store.participants = new Map();
    this.loaded = true;
    for (const name of ['me', 'chats', 'friends', 'requests', 'blocks']) store.changed(name);
    if (this.openChatId !== null && store.chats.has(this.openChatId)) {
      await this.openChat(this.openChatId).catch(() => {});
    }
    store.changed('loaded');
  }

  async loadFriends() {
    const epoch = this.epoch;
    const version = this.store.version('friends');
    const friends = await this.api.friends();
    // Logged out meanwhile, or the list changed since we asked: what we got is older.
    if (epoch !== this.epoch || version !== this.store.version('friends')) return;
    this.store.friends = new Map(friends.items.map((f) => [f.user.id, f]));
    this.store.changed('friends');
  }

  async loadRequests() {
    const epoch = this.epoch;
    const version = this.store.version('requests');
    const requests = await this.api.friendRequests({ status: 'pending' });
    // Logged out meanwhile, or the list changed since we asked: what we got is older.
    if (epoch !== this.epoch || version !== this.store.version('requests')) return;
    this.store.requests = new Map(requests.items.map((r) => [r.id, r]));
    this.store.changed('requests');
  }

  async loadBlocks() {
    const epoch = this.epoch;
    const version = this.store.version('blocks');
    const blocks = await this.api.blocks();
    // Logged out meanwhile, or the list changed since we asked: what we got is older.
    if (epoch !== this.epoch || version !== this.store.version('blocks')) return;
    this.store.blocks = new Map(blocks.items.map((b) => [b.user.id, b]));
    this.store.changed('blocks');
  }

  /** Fetch one chat (the caller's own unread count comes with it); gone if 404. */
  async fetchChat(chatId, { raise = false } = {}) {
    const epoch = this.epoch;
    try {
      const chat = await this.api.chat(chatId);
      if (epoch !== this.epoch) return null;
      this.store.chats.set(chat.id, chat);
      this.store.changed('chats');
      return chat;
    } catch (error) {
      if (error.status === 404) this.forgetChat(chatId);
      if (raise) throw error;
      return null;
    }
  }

  /** We are no longer in chatId (byMe: because we left it ourselves). */
  forgetChat(chatId, { byMe = false } = {}) {
    const { store } = this;
    const known = store.chats.delete(chatId);
    store.histories.delete(chatId);
    store.participants.delete(chatId);
    if (known) {
      store.changed('chats');
      store.changed('left', { chatId, byMe });
    }
  }

  async loadParticipants(chatId) {
    const epoch = this.epoch;
    const page = await this.api.participants(chatId);
    if (epoch !== this.epoch) return;
    const people = new Map(page.items.map((p) => [p.user.id, p]));
    this.store.participants.set(chatId, people);
    const mine = people.get(this.store.me.id);
    if (mine) this.raiseReadSeq(chatId, mine.last_read_seq);
    this.store.changed('participants', chatId);
  }

  // Live events ---------------------------------------------------------------------

  receive(event) {
    if (this.buffer) this.buffer.push(event);
    else this.apply(event);
  }

  apply(event) {
    const data = event.data ?? {};
    try {
      switch (event.type) {
        case 'message.created':
          this.putMessage(data, { created: true });
          break;
        case 'message.updated':
          this.putMessage(data, { created: false });
          break;
        case 'chat.read':
          this.readMoved(data);
          break;
        case 'typing':
          this.someoneTyping(data);
          break;
        case 'chat.created':
        case 'chat.updated':
          this.putChat(data);
          break;
        case 'friend_request.created':
        case 'friend_request.updated':
          this.putRequest(data);
          break;
        case 'friend_request.withdrawn':
          this.store.requests.delete(data.id);
          this.store.changed('requests');
          break;
        case 'friend.removed':
          this.store.friends.delete(data.user_id);
          this.store.changed('friends');
          break;
        case 'resync_required':
          this.resync();
          break;
        default:
          break; // an event type from a newer server: nothing to do
      }
    } catch (error) {
      console.error('could not apply', event, error);
    }
  }

  /** A message as it is now (created, edited, deleted or reacted to): an upsert by seq. */
  putMessage(message, { created }) {
    const { store } = this;
    const chatId = message.chat_id;
    this.generations.set(chatId, (this.generations.get(chatId) ?? 0) + 1);
    const chat = store.chats.get(chatId);
    if (!chat) {
      this.fetchChat(chatId); // a chat we did not know yet
    } else {
      const last = chat.last_message;
      if (!last || message.seq > last.seq) {
        chat.last_message = message;
        // A chat loaded after this message was sent counts it already (last.seq).
        if (created && !store.isMe(message.sender)) chat.unread_count = (chat.unread_count || 0) + 1;
        store.changed('chats');
      } else if (message.seq === last.seq) {
        chat.last_message = message;
        store.changed('chats');
      }
    }
    if (created) {
      this.lastSent.set(`${chatId}:${message.sender.id}`, Date.now());
      this.stopTyping(chatId, message.sender.id);
      // As the server does: a sender who had read everything has read their own message.
      const sender = store.participants.get(chatId)?.get(message.sender.id);
      if (sender && sender.last_read_seq === message.seq - 1) {
        sender.last_read_seq = message.seq;
        store.changed('participants', chatId);
      }
      if (store.isMe(message.sender)) {
        if (store.readSeq.get(chatId) === message.seq - 1) this.raiseReadSeq(chatId, message.seq);
        if (message.client_id) store.outbox.delete(message.client_id);
      }
    }
    const history = store.histories.get(chatId);
    if (history?.loaded) {
      if (history.messages.has(message.seq)) {
        history.messages.set(message.seq, message);
      } else if (history.atEnd && message.seq === history.hi + 1) {
        history.put([message]);
      } else if (history.atEnd && message.seq > history.hi + 1) {
        this.catchUp(chatId); // seq has no gaps: we missed some; fetch them
      }
      // else: outside the loaded part, which loads when scrolled to.
      if (history.quoted.has(message.seq)) history.quoted.set(message.seq, message);
    }
    store.changed('messages', { chatId });
  }

  readMoved({ chat_id: chatId, user_id: userId, seq }) {
    const { store } = this;
    const person = store.participants.get(chatId)?.get(userId);
    if (person && seq > person.last_read_seq) {
      person.last_read_seq = seq;
      store.changed('participants', chatId);
    }
    if (userId !== store.me.id) return;
    this.raiseReadSeq(chatId, seq); // read in another of our sessions
    const chat = store.chats.get(chatId);
    if (!chat?.unread_count) return;
    if (!chat.last_message || seq >= chat.last_message.seq) {
      chat.unread_count = 0;
      store.changed('chats');
    } else {
      this.fetchChat(chatId); // some are still unread: the server knows how many
    }
  }

  raiseReadSeq(chatId, seq) {
    if (seq > (this.store.readSeq.get(chatId) ?? 0)) this.store.readSeq.set(chatId, seq);
  }

  someoneTyping({ chat_id: chatId, user }) {
    const { store } = this;
    if (store.isMe(user)) return;
    const sentAt = this.lastSent.get(`${chatId}:${user.id}`) ?? -Infinity;
    if (Date.now() - sentAt < TYPING_AFTER_MESSAGE) return;
    let typing = store.typing.get(chatId);
    if (!typing) {
      typing = new Map();
      store.typing.set(chatId, typing);
    }
    typing.set(user.id, { user, until: Date.now() + TYPING_SHOWN });
    const key = `${chatId}:${user.id}`;
    clearTimeout(this.typingTimers.get(key));
    this.typingTimers.set(
      key,
      setTimeout(() => this.stopTyping(chatId, user.id), TYPING_SHOWN),
    );
    store.changed('typing', chatId);
  }

  stopTyping(chatId, userId) {
    const key = `${chatId}:${userId}`;
    clearTimeout(this.typingTimers.get(key));
    this.typingTimers.delete(key);
    if (this.store.typing.get(chatId)?.delete(userId)) this.store.changed('typing', chatId);
  }

  putChat(chat) {
    const { store } = this;
    if (!chat.participants.some((p) => store.isMe(p))) {
      this.forgetChat(chat.id); // we left, or were removed
      return;
    }
    const known = store.chats.get(chat.id);
    // The event shows the chat as all its participants share it (unread_count 0):
    // keep our own count, and the newer of the two last messages.
    if (known) {
      chat.unread_count = known.unread_count;
      const last = known.last_message;
      if (last && (!chat.last_message || last.seq > chat.last_message.seq)) chat.last_message = last;
    }
    store.chats.set(chat.id, chat);
    store.changed('chats');
    if (!known) this.fetchChat(chat.id); // new to us: the server has our unread count
    if (store.participants.has(chat.id)) this.loadParticipants(chat.id).catch(() => {});
  }

  putRequest(request) {
    const { store } = this;
    if (request.status === 'pending') store.requests.set(request.id, request);
    else store.requests.delete(request.id);
    store.changed('requests');
    if (request.status === 'accepted') this.loadFriends().catch(() => {});
  }

  // One chat's history ------------------------------------------------------------

  history(chatId) {
    return this.store.histories.get(chatId) ?? null;
  }

  /**
   * A page of history. If an event for this chat came while it was on its way, the
   * page may predate it (an edit we then could not apply): ask again.
   */
  async fetchPage(chatId, query) {
    for (let tries = 0; ; tries += 1) {
      const before = this.generations.get(chatId) ?? 0;
      const page = await this.api.messages(chatId, query);
      if ((this.generations.get(chatId) ?? 0) === before || tries >= 2) return page;
    }
  }

  /** Open a chat: its newest page (or what is missing since), and its read markers. */
  async openChat(chatId) {
    this.openChatId = chatId;
    if (!this.store.chats.has(chatId)) await this.fetchChat(chatId, { raise: true });
    const history = this.store.histories.get(chatId);
    const jobs = [this.loadParticipants(chatId)];
    if (!history?.loaded) jobs.push(this.loadLatest(chatId));
    else if (history.atEnd) jobs.push(this.catchUp(chatId));
    await Promise.all(jobs);
  }

  closeChat() {
    this.openChatId = null;
  }

  async loadLatest(chatId) {
    const epoch = this.epoch;
    const page = await this.fetchPage(chatId, { limit: PAGE });
    if (epoch !== this.epoch) return;
    const history = new History();
    history.put(page.items);
    history.loaded = true;
    history.hasMoreBefore = page.has_more;
    history.atEnd = true;
    this.store.histories.set(chatId, history);
    this.store.changed('messages', { chatId, reset: true });
    await this.checkEnd(chatId);
  }

  /** A message announced while the page was on its way may be past it: fetch it. */
  async checkEnd(chatId) {
    const history = this.history(chatId);
    const last = this.store.chats.get(chatId)?.last_message;
    if (history?.loaded && history.atEnd && last && last.seq > history.hi) {
      await this.catchUp(chatId);
    }
  }

  async loadOlder(chatId) {
    const history = this.history(chatId);
    if (!history?.loaded || !history.hasMoreBefore || history.loadingOlder) return;
    history.loadingOlder = true;
    try {
      const page = await this.fetchPage(chatId, { before: history.lo, limit: PAGE });
      if (this.history(chatId) !== history) return;
      history.put(page.items);
      history.hasMoreBefore = page.has_more && page.items.length > 0;
      this.store.changed('messages', { chatId, older: true });
    } finally {
      history.loadingOlder = false;
    }
  }

  async loadNewer(chatId) {
    const history = this.history(chatId);
    if (!history?.loaded || history.atEnd || history.loadingNewer) return;
    history.loadingNewer = true;
    try {
      const page = await this.fetchPage(chatId, { after: history.hi, limit: PAGE });
      if (this.history(chatId) !== history) return;
      history.put(page.items);
      history.atEnd = !page.has_more;
      this.store.changed('messages', { chatId });
    } finally {
      history.loadingNewer = false;
    }
    await this.checkEnd(chatId);
  }

  /** Fetch every message after the newest we hold (after a gap in seq). */
  catchUp(chatId) {
    const running = this.catchingUp.get(chatId);
    if (running) return running;
    const job = (async () => {
      try {
        for (;;) {
          const history = this.history(chatId);
          if (!history?.loaded || !history.atEnd) return;
          const page = await this.fetchPage(chatId, { after: history.hi, limit: CATCH_UP_PAGE });
          if (this.history(chatId) !== history) return;
          history.put(page.items);
          this.store.changed('messages', { chatId });
          if (!page.has_more) break;
        }
      } finally {
        this.catchingUp.delete(chatId);
      }
      await this.checkEnd(chatId);
    })();
    this.catchingUp.set(chatId, job);
    return job;
  }

  /** Make sure seq is loaded, loading the stretch of history around it if needed. */
  async jumpTo(chatId, seq) {
    this.openChatId = chatId;
    if (!this.store.chats.has(chatId)) await this.fetchChat(chatId, { raise: true });
    const participants = this.loadParticipants(chatId);
    const current = this.history(chatId);
    if (!current?.loaded || !current.messages.has(seq)) {
      const epoch = this.epoch;
      const [older, newer] = await Promise.all([
        this.fetchPage(chatId, { before: seq + 1, limit: 25 }),
        this.fetchPage(chatId, { after: seq, limit: 25 }),
      ]);
      if (epoch !== this.epoch) return;
      if (!older.items.length && !newer.items.length) {
        await this.loadLatest(chatId);
      } else {
        const history = new History();
        history.put(older.items);
        history.put(newer.items);
        history.loaded = true;
        history.hasMoreBefore = older.has_more;
        history.atEnd = !newer.has_more;
        this.store.histories.set(chatId, history);
        this.store.changed('messages', { chatId, reset: true });
      }
    }
    await participants;
  }

  /** A message for a reply's quote when it is not loaded; fetched once. */
  async quote(chatId, seq) {
    const history = this.history(chatId);
    if (!history || history.get(seq) || history.quoted.has(seq)) return;
    history.quoted.set(seq, null);
    try {
      const message = await this.api.message(chatId, seq);
      history.quoted.set(seq, message);
      this.store.changed('messages', { chatId });
    } catch {
      history.quoted.delete(seq);
    }
  }

  // Messages ------------------------------------------------------------------------

  send(chatId, body, replyTo = null) {
    const entry = { clientId: randomId(), chatId, body, replyTo, state: 'sending', error: null };
    this.store.outbox.set(entry.clientId, entry);
    this.store.changed('messages', { chatId, sent: true });
    this.deliver(entry);
  }

  /** Send (or send again: client_id makes it safe) one message of the outbox. */
  async deliver(entry) {
    const { store } = this;
    entry.state = 'sending';
    entry.error = null;
    store.changed('messages', { chatId: entry.chatId });
    const body = { body: entry.body, client_id: entry.clientId };
    if (entry.replyTo !== null) body.reply_to = entry.replyTo;
    try {
      const message = await this.api.send(entry.chatId, body);
      store.outbox.delete(entry.clientId);
      this.putMessage(message, { created: true });
    } catch (error) {
      if (!store.outbox.has(entry.clientId)) return; // its event came meanwhile
      if (error instanceof NetworkError) {
        entry.state = 'waiting'; // sent again when the connection is back
      } else {
        entry.state = 'failed';
        entry.error = describe(error);
      }
      store.changed('messages', { chatId: entry.chatId });
    }
  }

  flushOutbox() {
    for (const entry of this.store.outbox.values()) {
      if (entry.state === 'waiting') this.deliver(entry);
    }
  }

  discard(clientId) {
    const entry = this.store.outbox.get(clientId);
    if (!entry) return;
    this.store.outbox.delete(clientId);
    this.store.changed('messages', { chatId: entry.chatId });
  }

  async edit(chatId, seq, body) {
    this.putMessage(await this.api.edit(chatId, seq, body), { created: false });
  }

  async deleteMessage(chatId, seq) {
    await this.api.deleteMessage(chatId, seq);
    const message = await this.api.message(chatId, seq).catch(() => null);
    if (message) this.putMessage(message, { created: false });
  }

  async toggleReaction(chatId, message, emoji) {
    const mine = message.reactions
      .find((r) => r.emoji === emoji)
      ?.user_ids.includes(this.store.me.id);
    const call = mine ? this.api.unreact : this.api.react;
    this.putMessage(await call.call(this.api, chatId, message.seq, emoji), { created: false });
  }

  /** The person sees the newest message of chatId: move the read marker there. */
  markSeen(chatId) {
    const { store } = this;
    const chat = store.chats.get(chatId);
    const last = chat?.last_message;
    const history = this.history(chatId);
    if (!last || !history?.loaded || !history.atEnd) return;
    if (chat.unread_count) {
      chat.unread_count = 0;
      store.changed('chats');
    }
    if (last.seq <= (store.readSeq.get(chatId) ?? 0)) return;
    store.readSeq.set(chatId, last.seq);
    this.api.markRead(chatId, last.seq).catch(() => store.readSeq.delete(chatId));
  }

  /** We are typing in chatId: tell the others, at most every few seconds. */
  typing(chatId) {
    const now = Date.now();
    if (now - (this.typingSent.get(chatId) ?? 0) < TYPING_EVERY) return;
    this.typingSent.set(chatId, now);
    this.api.typing(chatId).catch(() => {});
  }

  // Friends -------------------------------------------------------------------------

  async sendFriendRequest(to) {
    const request = await this.api.sendFriendRequest(to);
    this.putRequest(request);
    return request;
  }

  async answerFriendRequest(id, status) {
    this.putRequest(await this.api.answerFriendRequest(id, status));
  }

  async withdrawFriendRequest(id) {
    await this.api.withdrawFriendRequest(id);
    this.store.requests.delete(id);
    this.store.changed('requests');
  }

  async unfriend(userId) {
    await this.api.unfriend(userId);
    this.store.friends.delete(userId);
    this.store.changed('friends');
  }

  async block(userId) {
    await this.api.block(userId);
    await Promise.all([this.loadBlocks(), this.loadFriends(), this.loadRequests()]);
    this.store.changed('messages', { chatId: this.openChatId });
  }

  async unblock(userId) {
    await this.api.unblock(userId);
    this.store.blocks.delete(userId);
    this.store.changed('blocks');
    this.store.changed('messages', { chatId: this.openChatId });
  }

  // Chats ---------------------------------------------------------------------------

  async createChat(participants, name) {
    const body = { participants };
    if (name) body.name = name;
    const chat = await this.api.createChat(body);
    if (!this.store.chats.has(chat.id)) {
      this.store.chats.set(chat.id, chat);
      this.store.changed('chats');
    }
    return chat;
  }

  async rename(chatId, name) {
    this.putChat(await this.api.renameChat(chatId, name));
  }

  async addMember(chatId, user) {
    this.putChat(await this.api.addParticipant(chatId, user));
    await this.loadParticipants(chatId);
  }

  async removeMember(chatId, userId) {
    await this.api.removeParticipant(chatId, userId);
    await Promise.all([this.fetchChat(chatId), this.loadParticipants(chatId)]);
  }

  async leave(chatId) {
    await this.api.removeParticipant(chatId, this.store.me.id);
    this.forgetChat(chatId, { byMe: true });
  }

  search(query) {
    return this.api.search(query);
  }
}
