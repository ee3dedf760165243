/** A plain DOM button with an id, a label and a tooltip. */
export function button(id, text, title) {
  const element = document.createElement('button');
  element.type = 'button';
  element.id = id;
  element.textContent = text;
  element.title = title;
  return element;
}
