import { useI18n } from './i18n.js';
import { Link } from './ui.jsx';

// Page sections as links (each has its own address), marked for assistive technology.
export function Tabs({ base, tabs, current }) {
  const { t } = useI18n();
  return (
    <nav className="tabs" aria-label={t('title')}>
      <ul>
        {tabs.map((tab) => (
          <li key={tab}>
            <Link to={base + tab} aria-current={tab === current ? 'page' : undefined}>
              {t(`tab_${tab}`)}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}
