// Building the page safely: every text goes in as text (a text node or textContent),
// never as HTML, so a message like <img src=x onerror=...> shows as typed.

const PROPERTIES = new Set(['hidden', 'disabled', 'checked', 'value', 'selected', 'open']);

/**
 * h('button', {class: 'x', onclick: fn, 'aria-label': 'Close'}, 'text', child, ...)
 * makes an element. Strings among the children become text nodes; null, undefined
 * and false children are skipped. `text` sets textContent; `dataset` fills data-*.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (PROPERTIES.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child); // a string becomes a text node
  }
}

export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

/**
 * Replace container's children, keeping keyboard focus on the element with the same
 * data-key as the focused one had (re-rendering a list must not throw focus away).
 */
export function replaceKeepingFocus(container, children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.key : undefined;
  container.replaceChildren(...children.filter(Boolean));
  if (key !== undefined) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

// Times: RFC 3339 from the server, shown in the reader's own locale and time zone.
const clockFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dateFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const yearFormat = new Intl.DateTimeFormat(undefined, {
  day: 'numeric',
  month: 'short',
  year: 'numeric',
});
const longDayFormat = new Intl.DateTimeFormat(undefined, {
  weekday: 'long',
  day: 'numeric',
  month: 'long',
  year: 'numeric',
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

function daysAgo(date) {
  return Math.round((startOfDay(new Date()) - startOfDay(date)) / 86400000);
}

/** "14:05" */
export function clock(iso) {
  return clockFormat.format(new Date(iso));
}

/** For lists: the time today, the weekday this week, else the date. */
export function shortTime(iso) {
  const date = new Date(iso);
  const ago = daysAgo(date);
  if (ago <= 0) return clockFormat.format(date);
  if (ago < 7) return weekdayFormat.format(date);
  if (date.getFullYear() === new Date().getFullYear()) return dateFormat.format(date);
  return yearFormat.format(date);
}

/** "Today", "Yesterday", or the date: the separator between days of a chat. */
export function dayLabel(iso) {
  const date = new Date(iso);
  const ago = daysAgo(date);
  if (ago === 0) return 'Today';
  if (ago === 1) return 'Yesterday';
  return longDayFormat.format(date);
}

export function dayKey(iso) {
  return startOfDay(new Date(iso));
}

export function fullTime(iso) {
  return fullFormat.format(new Date(iso));
}

/** The name to show for a user object (display name, else username). */
export function nameOf(user) {
  return user?.display_name || user?.username || 'someone';
}

/** One or two letters for an avatar. */
export function initials(text) {
  const letters = [...(text || '?').trim()];
  return (letters[0] || '?').toUpperCase();
}

/** A hue from a number, so that each person or chat keeps its avatar colour. */
export function hue(id) {
  return (Number(id) * 137) % 360;
}

/** An avatar: initials on a colour made from id. */
export function avatar(label, id, extraClass = '') {
  const el = h('span', { class: `avatar ${extraClass}`.trim(), 'aria-hidden': 'true' });
  el.textContent = initials(label);
  el.style.setProperty('--hue', String(hue(id)));
  return el;
}

const ICONS = {
  reply: ['M9 14 4 9l5-5', 'M4 9h10a6 6 0 0 1 6 6v4'],
  react: ['M8 14s1.5 2 4 2 4-2 4-2', 'M9 9h.01', 'M15 9h.01', 'M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z'],
  edit: ['M12 20h9', 'M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z'],
  delete: ['M3 6h18', 'M8 6V4h8v2', 'M19 6l-1 14H6L5 6'],
};

/** A small line icon (decorative: its button carries the name). */
export function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  for (const d of ICONS[name]) {
    const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/** A random id for client_id (works on plain http too, where randomUUID does not). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** "alice", "alice and bob", "alice, bob and carol" */
export function listNames(names) {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
