// The chat list: most recent activity first, each with its last message, unread count
// and "typing…". Each chat is a link (#chat/<id>), so the keyboard, the back button
// and middle-click all work as for any link.

import { avatar, h, nameOf, replaceKeepingFocus, shortTime } from '../dom.js';

export class ChatList {
  constructor(store) {
    this.store = store;
    this.list = document.getElementById('chat-list');
    this.empty = document.getElementById('chat-list-empty');
    this.activeId = null;
    for (const name of ['chats', 'typing', 'blocks', 'me', 'friends']) {
      store.on(name, () => this.render());
    }
  }

  setActive(chatId) {
    this.activeId = chatId;
    this.render();
  }

  render() {
    const chats = this.store.sortedChats();
    replaceKeepingFocus(
      this.list,
      chats.map((chat) => this.item(chat)),
    );
    this.empty.hidden = chats.length > 0;
    const unread = this.store.totalUnread();
    document.title = unread ? `(${unread}) Chaat` : 'Chaat';
  }

  preview(chat) {
    const store = this.store;
    const typing = [...(store.typing.get(chat.id)?.values() ?? [])];
    if (typing.length === 1) {
      const who = store.user(typing[0].user.id, chat.id) ?? typing[0].user;
      return { text: `${nameOf(who)} is typing…`, typing: true };
    }
    if (typing.length > 1) return { text: 'Several people are typing…', typing: true };
    const last = chat.last_message;
    if (!last) return { text: chat.kind === 'group' ? 'New group' : 'No messages yet' };
    let who = '';
    if (store.isMe(last.sender)) who = 'You: ';
    else if (chat.kind === 'group') {
      who = `${nameOf(store.user(last.sender.id, chat.id) ?? last.sender)}: `;
    }
    if (last.deleted_at) return { text: `${who}message deleted` };
    if (!store.isMe(last.sender) && store.blocked(last.sender.id)) {
      return { text: 'Message from someone you blocked' };
    }
    return { text: who + last.body.replace(/\s+/g, ' ') };
  }

  item(chat) {
    const title = this.store.chatTitle(chat);
    const last = chat.last_message;
    const unread = chat.unread_count || 0;
    const preview = this.preview(chat);
    const active = chat.id === this.activeId;
    const link = h(
      'a',
      {
        href: `#chat/${chat.id}`,
        class: `chat-item${unread ? ' unread' : ''}${active ? ' active' : ''}`,
        'aria-current': active ? 'page' : null,
        dataset: { key: `chat-${chat.id}`, chatId: String(chat.id) },
      },
      avatar(title, this.store.chatColour(chat), chat.kind === 'group' ? 'group' : ''),
      h(
        'span',
        { class: 'chat-item-text' },
        h(
          'span',
          { class: 'chat-item-top' },
          h('span', { class: 'chat-name', text: title }),
          h('time', {
            datetime: last?.created_at ?? chat.created_at,
            text: shortTime(last?.created_at ?? chat.created_at),
          }),
        ),
        h(
          'span',
          { class: 'chat-item-bottom' },
          h('span', { class: `chat-preview${preview.typing ? ' typing' : ''}`, text: preview.text }),
          unread
            ? h(
                'span',
                { class: 'badge unread-count' },
                h('span', { 'aria-hidden': 'true', text: unread > 99 ? '99+' : String(unread) }),
                h('span', { class: 'visually-hidden', text: `, ${unread} unread` }),
              )
            : null,
        ),
      ),
    );
    return h('li', {}, link);
  }
}
