// Where the stop alert's confirm box appears. It floats (position: fixed) so nothing on the
// page moves, and its "Send" button is placed right under the pointer of the first tap: a
// second tap at the same point sends, at any scroll position and window size.

const clamp = (v, lo, hi) => Math.max(lo, Math.min(v, Math.max(lo, hi)));

/** The point a click came from (a keyboard "click" has none: the button's centre). */
export function pointOf(event, button) {
  if (event && event.detail > 0 && (event.clientX || event.clientY)) return { x: event.clientX, y: event.clientY };
  return centreOf(button);
}

/** The centre of `node` in the viewport, or of the viewport if it is not in view. */
export function centreOf(node) {
  const vw = document.documentElement.clientWidth;
  const vh = window.innerHeight;
  const r = node ? node.getBoundingClientRect() : null;
  if (r && r.bottom > 0 && r.top < vh && r.width) return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
  return { x: vw / 2, y: vh / 2 };
}

/** Shows `box` with its `send` button centred on `point`, the rest of it just below (or above). */
export function placeStopConfirm(box, send, point) {
  box.classList.remove("hidden");
  const vw = document.documentElement.clientWidth;
  const vh = window.innerHeight;
  const b = send.getBoundingClientRect();
  const left = clamp(point.x - b.width / 2, 0, vw - b.width);
  const top = clamp(point.y - b.height / 2, 0, vh - b.height);
  send.style.left = `${left}px`;
  send.style.top = `${top}px`;
  const r = box.getBoundingClientRect();
  let boxTop = top + b.height + 8;
  if (boxTop + r.height > vh - 4) boxTop = Math.max(4, top - r.height - 8);
  box.style.left = `${clamp(point.x - r.width / 2, 8, vw - r.width - 8)}px`;
  box.style.top = `${boxTop}px`;
}
