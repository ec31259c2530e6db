import './style.css';
import { createRoot } from 'react-dom/client';
import { App } from './app.jsx';
import { takeTokenFromFragment } from './token.js';

takeTokenFromFragment();
createRoot(document.getElementById('app')).render(<App />);
