// Telling the person things: errors and notices as toasts, and a confirmation dialog.

import { describe } from './api.js';
import { $, h } from './dom.js';

const SHOWN_FOR = 8000;

/** Show text briefly: errors in an alert region (read out at once), the rest politely. */
export function toast(text, { error = false } = {}) {
  const region = $(error ? '#alerts' : '#notices');
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss' }, '×');
  const item = h('div', { class: error ? 'toast toast-error' : 'toast' }, h('p', { text }), close);
  const remove = () => item.remove();
  close.addEventListener('click', remove);
  region.append(item);
  setTimeout(remove, SHOWN_FOR);
}

/** Show what went wrong with an API call (its own message). */
export function showError(error) {
  toast(describe(error), { error: true });
}

/** Run an action; show its error, if any. Answers whether it worked. */
export async function attempt(action) {
  try {
    await action();
    return true;
  } catch (error) {
    showError(error);
    return false;
  }
}

/** Ask before doing something that cannot be undone; resolves to true or false. */
export function confirmDialog(question, action = 'OK') {
  const dialog = $('#confirm-dialog');
  $('#confirm-text', dialog).textContent = question;
  $('#confirm-ok', dialog).textContent = action;
  dialog.returnValue = '';
  dialog.showModal();
  $('#confirm-cancel', dialog).focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

/** Put an API error under a form (and next to its fields, when the server names them). */
export function formError(form, error) {
  const box = form.querySelector('.form-error');
  if (!box) {
    showError(error);
    return;
  }
  box.textContent = error ? describe(error) : '';
  box.hidden = !error;
}
