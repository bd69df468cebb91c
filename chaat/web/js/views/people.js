// A row for a person, shared by the friends page and the chat details dialog.

import { avatar, h, nameOf } from '../dom.js';

/** <li> with the person's avatar, names, an optional note, and action buttons. */
export function personRow(user, { note = '', actions = [], key = '' } = {}) {
  const name = nameOf(user);
  return h(
    'li',
    { class: 'person', dataset: { userId: String(user.id) } },
    avatar(name, user.id),
    h(
      'span',
      { class: 'person-text' },
      h('span', { class: 'person-name', text: name }),
      h('span', { class: 'person-handle', text: note ? `@${user.username} · ${note}` : `@${user.username}` }),
    ),
    h(
      'span',
      { class: 'person-actions' },
      actions.map(({ label, onclick, kind = '', describedName = true }) =>
        h('button', {
          type: 'button',
          class: kind,
          text: label,
          // "Accept" alone is ambiguous in a list read out by a screen reader.
          'aria-label': describedName ? `${label} ${name}` : null,
          dataset: { key: `${key}${user.id}-${label}` },
          onclick,
        }),
      ),
    ),
  );
}
