// Building page elements. Every value goes in as text (textContent, text nodes, element
// properties), never as HTML: the page runs under the query service's
// Content-Security-Policy, and an order's fields may hold markup that must show literally.

import { describeValue } from './json-values.js';

const EMPTY_VALUE = '—';

export function createElement(tagName, { className, text } = {}, children = []) {
  const element = document.createElement(tagName);
  if (className) {
    element.className = className;
  }
  if (text !== undefined) {
    element.textContent = text;
  }
  element.append(...children);
  return element;
}

/** A cell (<dd>, <td>) holding a value as text, or a prepared Node; empty values get a muted dash. */
export function createValueCell(tagName, value, className) {
  const cell = createElement(tagName, { className });
  if (value instanceof Node) {
    cell.append(value);
  } else if (value === undefined || value === null || value === '') {
    cell.classList.add('empty');
    const mark = createElement('span', { text: EMPTY_VALUE });
    mark.setAttribute('aria-hidden', 'true');
    cell.append(mark, createElement('span', { className: 'visually-hidden', text: 'empty' }));
  } else {
    cell.append(document.createTextNode(describeValue(value)));
  }
  return cell;
}

/** A header cell (<th scope="row">) for a table row. */
export function createRowHeader(options, children) {
  const cell = createElement('th', options, children);
  cell.scope = 'row';
  return cell;
}

/** The column name, shown by the stylesheet when a narrow screen stacks the cells. */
export function labelled(cell, label) {
  cell.dataset.label = label;
  return cell;
}
