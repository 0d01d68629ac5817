// What an order id may be, and how one is read from what a person types or pastes.

export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const ID_RULE = 'an order id is 1 to 64 characters: letters, digits, “_” or “-”.';

/** A typed or pasted id, trimmed; a pasted link to an order page gives its `id`. */
export function extractId(text) {
  const value = text.trim();
  if (/^https?:\/\//i.test(value)) {
    try {
      const linked = new URL(value).searchParams.get('id');
      if (linked !== null) {
        return linked.trim();
      }
    } catch {
      // not a URL after all: validate it as an id
    }
  }
  return value;
}

/** Returns why `id` cannot be an order id, or null if it looks fine. */
export function describeIdProblem(id) {
  if (id === '') {
    return 'Please enter an order id.';
  }
  if (!ID_PATTERN.test(id)) {
    return `Malformed id: ${ID_RULE}`;
  }
  return null;
}
