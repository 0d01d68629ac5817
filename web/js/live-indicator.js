// The small "Live" mark beside a section's heading, and the polite status line that says
// in words what it shows (screen readers hear the change; nobody is interrupted).

const TEXT = {
  live: 'Live',
  connecting: 'Reconnecting…',
  unavailable: 'Not live',
};

/**
 * Shows `state` ('live', 'connecting', 'unavailable' or 'off') on `indicator` and says
 * `sentence` in `region`; `refresh` (a button) is shown only while updates are unavailable.
 */
export function showLiveState({ indicator, region, refresh }, state, sentence) {
  indicator.dataset.state = state;
  indicator.hidden = state === 'off';
  indicator.textContent = TEXT[state] ?? '';
  indicator.title = sentence;
  if (region && region.textContent !== sentence) {
    region.textContent = sentence;
  }
  if (refresh) {
    refresh.hidden = state !== 'unavailable';
  }
}
