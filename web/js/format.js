// Money, percentages and times in the reader's locale and time zone.

import { createElement } from './elements.js';
import { describeValue } from './json-values.js';

/** Formats whole currency units, e.g. 1817 USD → "$1,817.00"; unknown codes → "1,817 XYZ". */
export function formatMoney(amount, currency) {
  if (typeof amount !== 'number' || !Number.isFinite(amount)) {
    return amount;
  }
  if (isKnownCurrency(currency)) {
    try {
      return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(amount);
    } catch {
      // fall through to the plain form
    }
  }
  const plain = new Intl.NumberFormat().format(amount);
  return currency ? `${plain} ${describeValue(currency)}` : plain;
}

function isKnownCurrency(code) {
  if (typeof code !== 'string' || !/^[A-Za-z]{3}$/.test(code)) {
    return false;
  }
  if (typeof Intl.supportedValuesOf === 'function') {
    return Intl.supportedValuesOf('currency').includes(code.toUpperCase());
  }
  return true; // older browsers: let Intl.NumberFormat decide
}

export function formatPercent(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return value;
  }
  return new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 2 }).format(value / 100);
}

export function parseIsoDate(value) {
  if (typeof value !== 'string' || value === '') {
    return null;
  }
  return usableDate(new Date(value));
}

export function parseUnixSeconds(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return null;
  }
  return usableDate(new Date(value * 1000));
}

function usableDate(date) {
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * A <time> element showing `date` in the reader's locale and time zone, with the raw
 * value in its title. Falls back to the raw value when it is not a usable date.
 */
export function createTimeElement(date, rawValue, timeStyle = 'medium') {
  if (!date) {
    return rawValue;
  }
  const text = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle }).format(date);
  const clock = new Intl.DateTimeFormat(undefined, { timeStyle }).format(date);
  // A narrow column breaks the line between the date and the time, never inside either.
  const split = text.lastIndexOf(clock);
  let children = [text];
  if (split > 0) {
    const day = text.slice(0, split).trimEnd();
    children = [
      createElement('span', { className: 'nowrap', text: day }),
      text.slice(day.length, split),
      createElement('span', { className: 'nowrap', text: clock }),
      text.slice(split + clock.length),
    ];
  }
  const time = createElement('time', {}, children.filter((child) => child !== ''));
  time.dateTime = date.toISOString();
  time.title = String(rawValue);
  return time;
}
