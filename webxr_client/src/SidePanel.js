/**
 * The left panel: a header (scene title, connection badge) and titled sections that the other
 * UI classes fill. Plain DOM; removing the panel removes everything in it.
 */
export class SidePanel {
  /** @param {HTMLElement} parent */
  constructor(parent) {
    this.element = document.createElement('aside');
    this.element.id = 'panel';
    this.header = document.createElement('header');
    this.header.className = 'panel-header';
    this.title = document.createElement('h1');
    this.title.id = 'scene-title';
    this.title.textContent = 'vizserver';
    this.header.append(this.title);
    this.body = document.createElement('div');
    this.body.className = 'panel-body';
    this.message = document.createElement('div');
    this.message.id = 'panel-message';
    this.message.className = 'panel-message';
    this.message.hidden = true;
    this.element.append(this.header, this.message, this.body);
    parent.append(this.element);
  }

  setTitle(title) {
    this.title.textContent = title || 'vizserver';
    this.title.title = title || '';
    document.title = title ? `${title} · vizserver` : 'vizserver';
  }

  /** A new section with a heading; returns its body to fill. */
  section(heading, id) {
    const section = document.createElement('section');
    section.className = 'panel-section';
    section.id = id;
    const h2 = document.createElement('h2');
    h2.textContent = heading;
    const body = document.createElement('div');
    body.className = 'section-body';
    section.append(h2, body);
    this.body.append(section);
    return body;
  }

  /** One line under the header (an error in red, or a notice); empty text hides it. */
  showMessage(text, kind = 'error') {
    this.message.textContent = text;
    this.message.dataset.kind = kind;
    this.message.hidden = !text;
  }

  dispose() {
    this.element.remove();
  }
}
