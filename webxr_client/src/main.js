// Entry point: check for WebGL2, then start the App (or, with `?mode=video`, the VideoView) and expose it as `window.vizserver`.
import './styles.css';
import { App } from './App.js';
import { VideoView } from './VideoView.js';

/** Whether this browser gives a WebGL2 context (the probe context is released at once). */
function hasWebGL2() {
  try {
    const gl = document.createElement('canvas').getContext('webgl2');
    if (!gl) return false;
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return true;
  } catch {
    return false;
  }
}

function showNoWebGL2(detail) {
  const message = document.getElementById('webgl-message');
  if (detail) message.querySelector('.detail').textContent = detail;
  message.hidden = false;
  document.body.dataset.state = 'no-webgl2';
  window.vizserver = { ready: Promise.resolve(false), webgl2: false };
}

/** `?mode=video`: the server renders and this page shows its video (no WebGL2 needed; VideoView.js). */
function startVideoView() {
  const view = new VideoView(document.getElementById('app'));
  window.vizserver = { app: view, ready: settled(view), mode: 'video', state: () => view.state() };
  view.start();
}

/** `view.ready`, shown in `body[data-state]` once it settles; the view is disposed of when the page goes. */
function settled(view) {
  const ready = view.ready.then(
    () => {
      document.body.dataset.state = 'ready';
      return true;
    },
    (error) => {
      document.body.dataset.state = 'error';
      throw error;
    },
  );
  ready.catch(() => {});
  window.addEventListener('pagehide', () => view.dispose(), { once: true });
  return ready;
}

if (new URLSearchParams(window.location.search).get('mode') === 'video') {
  startVideoView();
} else if (!hasWebGL2()) {
  showNoWebGL2('');
} else {
  let app = null;
  try {
    app = new App(document.getElementById('app'));
  } catch (error) {
    if (/webgl/i.test(error.message)) {
      showNoWebGL2(`The 3D view could not start: ${error.message}`);
    } else {
      const fatal = document.getElementById('fatal-message');
      fatal.querySelector('.detail').textContent = error.message;
      fatal.hidden = false;
      document.body.dataset.state = 'error';
      window.vizserver = { ready: Promise.resolve(false), webgl2: true, error: error.message };
      console.error(error);
    }
  }
  if (app) {
    window.vizserver = { app, ready: settled(app), webgl2: true, state: () => app.state() };
    app.start();
  }
}
