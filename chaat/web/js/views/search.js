// Search: every word typed must start a word of the message (as the server matches),
// in all chats or one. A result opens its chat at that message.

import { h, nameOf, shortTime } from '../dom.js';
import { formError } from '../ui.js';

const PAGE = 20;

/** text as nodes, with the words that start with one of terms in <mark>. */
function highlighted(text, terms) {
  const words = terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).filter(Boolean);
  if (!words.length) return [text];
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(?:${words.join('|')})`, 'giu');
  const nodes = [];
  let at = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > at) nodes.push(text.slice(at, match.index));
    nodes.push(h('mark', { text: match[0] }));
    at = match.index + match[0].length;
  }
  if (at < text.length) nodes.push(text.slice(at));
  return nodes;
}

export class SearchView {
  constructor(session) {
    this.session = session;
    this.store = session.store;
    this.root = document.getElementById('search-view');
    this.form = document.getElementById('search-form');
    this.input = document.getElementById('search-input');
    this.chatSelect = document.getElementById('search-chat');
    this.summary = document.getElementById('search-summary');
    this.results = document.getElementById('search-results');
    this.more = document.getElementById('search-more');
    this.query = null;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.search();
    });
    this.more.addEventListener('click', () => this.search({ more: true }));
    this.store.on('chats', () => this.fillChats());
  }

  show() {
    this.root.hidden = false;
    this.fillChats();
  }

  hide() {
    this.root.hidden = true;
  }

  focus() {
    this.input.focus();
  }

  fillChats() {
    if (this.root.hidden) return;
    const chosen = this.chatSelect.value;
    this.chatSelect.replaceChildren(
      h('option', { value: '', text: 'All chats' }),
      ...this.store
        .sortedChats()
        .map((chat) => h('option', { value: String(chat.id), text: this.store.chatTitle(chat) })),
    );
    this.chatSelect.value = this.store.chats.has(Number(chosen)) ? chosen : '';
  }

  async search({ more = false } = {}) {
    formError(this.form, null);
    if (!more) {
      const q = this.input.value.trim();
      if (!q) {
        this.input.focus();
        return;
      }
      this.query = { q, chat: this.chatSelect.value || null, before: null };
      this.results.replaceChildren();
      this.summary.textContent = 'Searching…';
    }
    const query = this.query;
    let page;
    try {
      page = await this.session.search({ ...query, limit: PAGE });
    } catch (error) {
      this.summary.textContent = '';
      formError(this.form, error);
      return;
    }
    if (this.query !== query) return;
    const terms = query.q.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    const firstNew = this.results.children.length;
    for (const message of page.items) this.results.append(this.result(message, terms));
    const count = this.results.children.length;
    this.summary.textContent = count
      ? `${count}${page.has_more ? '+' : ''} message${count === 1 ? '' : 's'} found.`
      : 'No messages found.';
    if (page.items.length) query.before = page.items[page.items.length - 1].id;
    this.more.hidden = !page.has_more;
    if (more) this.results.children[firstNew]?.querySelector('a')?.focus();
  }

  result(message, terms) {
    const store = this.store;
    const chat = store.chats.get(message.chat_id);
    const sender = store.isMe(message.sender)
      ? 'You'
      : nameOf(store.user(message.sender.id, message.chat_id) ?? message.sender);
    const hidden = !store.isMe(message.sender) && store.blocked(message.sender.id);
    return h(
      'li',
      {},
      h(
        'a',
        { href: `#chat/${message.chat_id}/${message.seq}`, class: 'search-result' },
        h(
          'span',
          { class: 'search-result-top' },
          h('span', { class: 'search-chat', text: chat ? store.chatTitle(chat) : 'A chat' }),
          h('span', { class: 'search-sender', text: sender }),
          h('time', { datetime: message.created_at, text: shortTime(message.created_at) }),
        ),
        h(
          'span',
          { class: 'search-body' },
          hidden ? 'Message from someone you blocked.' : highlighted(message.body ?? '', terms),
        ),
      ),
    );
  }
}
