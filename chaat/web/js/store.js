// What the client knows, and a notice to the views whenever part of it changes.
//
// Notices (store.on(name, fn)): 'me', 'chats' (the list: order, previews, unread
// counts, names), 'messages' ({chatId}), 'participants' (chatId), 'typing' (chatId),
// 'friends', 'requests', 'blocks', 'connection' (status), 'left' ({chatId, byMe}: we
// are no longer in that chat), 'loaded' (everything was just (re)loaded from the API).

/** The loaded part of one chat's history: a contiguous run of seqs, lo..hi. */
export class History {
  constructor() {
    this.messages = new Map(); // seq -> message
    this.lo = 0;
    this.hi = 0; // 0 when nothing is loaded
    this.loaded = false;
    this.hasMoreBefore = false;
    this.atEnd = true; // hi is the chat's newest message
    this.quoted = new Map(); // seq -> message, for replies to messages not loaded
  }

  /** Keep page (oldest first) and say which way it goes; pages must touch what we have. */
  put(messages) {
    for (const message of messages) {
      this.messages.set(message.seq, message);
      if (!this.hi || message.seq > this.hi) this.hi = message.seq;
      if (!this.lo || message.seq < this.lo) this.lo = message.seq;
    }
  }

  seqs() {
    return [...this.messages.keys()].sort((a, b) => a - b);
  }

  get(seq) {
    return this.messages.get(seq) ?? this.quoted.get(seq);
  }
}

function activity(chat) {
  return chat.last_message?.created_at ?? chat.created_at;
}

export class Store extends EventTarget {
  constructor() {
    super();
    this.versions = new Map(); // name -> how many changes it has had
    this.reset(null);
  }

  reset(me) {
    this.me = me;
    this.chats = new Map(); // id -> chat
    this.friends = new Map(); // user id -> {user, since}
    this.requests = new Map(); // id -> friend request
    this.blocks = new Map(); // user id -> {user, since}
    this.histories = new Map(); // chat id -> History
    this.participants = new Map(); // chat id -> Map(user id -> {user, joined_at, last_read_seq})
    this.typing = new Map(); // chat id -> Map(user id -> {user, until})
    this.readSeq = new Map(); // chat id -> my read marker, as far as we know
    this.outbox = new Map(); // client_id -> {clientId, chatId, body, replyTo, state, error}
    this.connection = 'connecting';
  }

  on(name, fn) {
    const listener = (event) => fn(event.detail);
    this.addEventListener(name, listener);
    return () => this.removeEventListener(name, listener);
  }

  /** Tell the views that `name` changed. Counted: a list fetched before a change
   *  (a click, a live event) must not overwrite what that change made of it. */
  changed(name, detail) {
    this.versions.set(name, this.version(name) + 1);
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  version(name) {
    return this.versions.get(name) ?? 0;
  }

  /** The chats, most recent activity first. */
  sortedChats() {
    return [...this.chats.values()].sort((a, b) => {
      const byTime = activity(b).localeCompare(activity(a));
      return byTime || b.id - a.id;
    });
  }

  history(chatId) {
    let history = this.histories.get(chatId);
    if (!history) {
      history = new History();
      this.histories.set(chatId, history);
    }
    return history;
  }

  isMe(user) {
    return Boolean(this.me && user && (user.id ?? user) === this.me.id);
  }

  blocked(userId) {
    return this.blocks.has(userId);
  }

  /** A user object for an id, from whatever we know (for display names). */
  user(id, chatId = null) {
    if (this.me && id === this.me.id) return this.me;
    const chat = chatId === null ? null : this.chats.get(chatId);
    const inChat = chat?.participants.find((p) => p.id === id);
    if (inChat) return inChat;
    const fromParticipants = this.participants.get(chatId)?.get(id)?.user;
    if (fromParticipants) return fromParticipants;
    return this.friends.get(id)?.user ?? null;
  }

  /** The chat's name: its own, else the other participants' names. */
  chatTitle(chat) {
    if (!chat) return 'Chat';
    if (chat.name) return chat.name;
    const others = chat.participants.filter((p) => !this.isMe(p));
    if (!others.length) return chat.kind === 'group' ? 'Just you' : 'Chat';
    return others.map((p) => p.display_name || p.username).join(', ');
  }

  /** What a chat's avatar colour follows: the other person of a direct chat, or the group. */
  chatColour(chat) {
    const other = chat.kind === 'direct' && chat.participants.find((p) => !this.isMe(p));
    return other ? other.id : 1000 + chat.id;
  }

  totalUnread() {
    let total = 0;
    for (const chat of this.chats.values()) total += chat.unread_count || 0;
    return total;
  }

  incomingRequests() {
    return [...this.requests.values()].filter(
      (r) => r.status === 'pending' && this.isMe(r.to),
    );
  }

  outgoingRequests() {
    return [...this.requests.values()].filter(
      (r) => r.status === 'pending' && this.isMe(r.from),
    );
  }
}
