<?php

/**
 * Pingyi (评议同步): LimeSurvey side of the appraisal sync.
 *
 * Thin glue: every decision is in lib/ (plain classes with PHPUnit tests); this class only
 * moves data between LimeSurvey's events, models and settings and those classes.
 * Never define a method named like one of PluginBase's (log, get, set, ...): LimeSurvey
 * would mark the plugin load_error until an admin resets it.
 */

require_once __DIR__ . '/lib/autoload.php';

use Pingyi\CatalogueCache;
use Pingyi\DaemonPause;
use Pingyi\ManifestBuilder;
use Pingyi\ManifestEndpoint;
use Pingyi\Messages;
use Pingyi\QuestionRoles;
use Pingyi\SignatureException;
use Pingyi\Signer;
use Pingyi\SurveyReader;
use Pingyi\Validator;
use Pingyi\WebhookSender;

class Pingyi extends PluginBase
{
    protected $storage = 'DbStorage';
    protected static $description = '评议同步 / Pingyi appraisal sync';
    protected static $name = 'Pingyi';

    /** PluginBase encrypts these at rest with LimeSurvey's key. */
    protected $encryptedSettings = ['secret'];

    /** Labels are filled per admin language in getPluginSettings(). */
    protected $settings = [
        'daemon_url' => ['type' => 'string', 'default' => ''],
        'secret' => ['type' => 'password', 'default' => ''],
        'site' => ['type' => 'string', 'default' => 'district'],
        'catalogue_url' => ['type' => 'string', 'default' => ''],
        'refresh_catalogue' => ['type' => 'boolean', 'default' => 0],
        'block_activation' => ['type' => 'boolean', 'default' => 1],
    ];

    /** The survey settings a designer may change (plugin storage, model Survey). */
    private const SURVEY_KEYS = ['enabled', 'campaign', 'group', 'unit_source', 'unit', 'token'];

    public function init()
    {
        $this->subscribe('beforeSurveySettings');
        $this->subscribe('newSurveySettings');
        $this->subscribe('beforeControllerAction');
        $this->subscribe('newQuestionAttributes');
        $this->subscribe('beforeQuestionAttributeSave');
        $this->subscribe('beforeSurveyActivate');
        $this->subscribe('afterSurveyComplete');
        $this->subscribe('newUnsecureRequest');
    }

    // ------------------------------------------------------------------ global settings

    public function getPluginSettings($getValues = true)
    {
        $settings = parent::getPluginSettings($getValues);
        $lang = $this->adminLanguage();
        $url = rtrim((string) $this->get('daemon_url', null, null, ''), '/');
        $label = static function (string $key) use ($lang): string {
            return Messages::text($key, $lang);
        };
        $settings['daemon_url']['label'] = $label('setting_daemon_url');
        $settings['daemon_url']['help'] = Messages::text('setting_daemon_url_help', $lang, ['url' => $url ?: '…']);
        $settings['secret']['label'] = $label('setting_secret');
        // never sent back to the browser: the field is always empty, the help says if it is set
        $secret = $getValues ? (string) $this->get('secret', null, null, '') : '';
        $settings['secret']['current'] = '';
        $settings['secret']['help'] = $secret === ''
            ? $label('setting_secret_help_unset')
            : Messages::text('setting_secret_help_set', $lang, ['masked' => self::mask($secret)]);
        $settings['site']['label'] = $label('setting_site');
        $settings['site']['help'] = $label('setting_site_help');
        $settings['catalogue_url']['label'] = $label('setting_catalogue_url');
        $settings['catalogue_url']['help'] = Messages::text('setting_catalogue_url_help', $lang, ['url' => $url ?: '…']);
        $settings['refresh_catalogue']['label'] = $label('setting_refresh');
        $settings['refresh_catalogue']['current'] = 0;
        $settings['block_activation']['label'] = $label('setting_block');
        if ($getValues) {
            $cached = $this->get('catalogue_cache', null, null, null);
            $settings['catalogue_status'] = [
                'type' => 'info',
                'content' => CHtml::encode(is_array($cached) && isset($cached['fetched_at'])
                    ? Messages::text('catalogue_status', $lang, [
                        'count' => count($cached['catalogue']['units'] ?? []),
                        'when' => date('Y-m-d H:i:s', (int) $cached['fetched_at']),
                    ])
                    : Messages::text('catalogue_never', $lang)),
            ];
        }
        return $settings;
    }

    public function saveSettings($settings)
    {
        // an empty password field means "keep the secret", never "erase it"
        if (!isset($settings['secret']) || trim((string) $settings['secret']) === '') {
            unset($settings['secret']);
        } else {
            $settings['secret'] = trim((string) $settings['secret']);
        }
        $refresh = !empty($settings['refresh_catalogue']);
        unset($settings['refresh_catalogue'], $settings['catalogue_status']);
        parent::saveSettings($settings);
        if ($refresh) {
            $this->catalogueCache()->refresh();
        }
    }

    // ------------------------------------------------------------------ survey settings

    public function beforeSurveySettings()
    {
        $event = $this->getEvent();
        $sid = (int) $event->get('survey');
        $lang = $this->adminLanguage();
        $raw = $this->surveySettings($sid);
        $cat = $this->catalogueCache()->get();
        $catalogue = $cat['catalogue'];
        $snapshot = (new SurveyReader())->read($sid, $raw);
        $problems = $snapshot === null ? [] : (new Validator())->validate($snapshot, $catalogue, $cat['error']);

        $pick = static function (string $kind, string $current) use ($catalogue): array {
            $options = ['' => '—'];
            foreach ($catalogue[$kind] ?? [] as $entry) {
                $options[(string) $entry['code']] = $entry['code'] . ' ' . ($entry['name'] ?? '');
            }
            if ($current !== '' && !isset($options[$current])) {
                $options[$current] = $current . ' (?)'; // keep a code the catalogue lost visible
            }
            return $options;
        };
        $text = static function (string $key) use ($lang): string {
            return Messages::text($key, $lang);
        };
        $event->set("surveysettings.{$this->id}", [
            'name' => get_class($this),
            'settings' => [
                'enabled' => [
                    'type' => 'boolean', 'label' => $text('survey_enabled'),
                    'current' => !empty($raw['enabled']) ? 1 : 0,
                ],
                'campaign' => [
                    'type' => 'select', 'label' => $text('survey_campaign'),
                    'options' => $pick('campaigns', (string) ($raw['campaign'] ?? '')),
                    'current' => (string) ($raw['campaign'] ?? ''),
                ],
                'group' => [
                    'type' => 'select', 'label' => $text('survey_group'),
                    'options' => $pick('groups', (string) ($raw['group'] ?? '')),
                    'current' => (string) ($raw['group'] ?? ''),
                ],
                'unit_source' => [
                    'type' => 'select', 'label' => $text('survey_unit_source'),
                    'options' => [
                        'question' => $text('survey_unit_source_question'),
                        'fixed' => $text('survey_unit_source_fixed'),
                    ],
                    'current' => (string) ($raw['unit_source'] ?? 'question'),
                ],
                'unit' => [
                    'type' => 'select', 'label' => $text('survey_unit'),
                    'options' => $pick('units', (string) ($raw['unit'] ?? '')),
                    'current' => (string) ($raw['unit'] ?? ''),
                ],
                'token' => [
                    'type' => 'select', 'label' => $text('survey_token'),
                    'options' => ['drop' => $text('survey_token_drop'), 'hash' => $text('survey_token_hash')],
                    'current' => (string) ($raw['token'] ?? 'drop'),
                ],
                'pingyi_check' => [
                    'type' => 'info',
                    'content' => $this->renderPartial('validation', [
                        'problems' => $problems,
                        'lang' => Messages::lang($lang),
                        'sid' => $sid,
                    ], true),
                ],
            ],
        ]);
    }

    public function newSurveySettings()
    {
        $event = $this->getEvent();
        $this->saveSurveySettings((int) $event->get('survey'), (array) $event->get('settings'));
    }

    /**
     * LimeSurvey 6.2.1 (build 230807) never delivers newSurveySettings: the survey updater
     * dispatches it on a second, empty PluginManager that its DI container builds (DI.php
     * registers the global name "PluginManager", GeneralSettings asks for
     * LimeSurvey\PluginManager\PluginManager). Seen on a real 6.2.1: the form answers
     * success and nothing is stored. So the plugin takes its own fields from the same POST
     * before the action runs (CSRF is already checked by then); where the event does
     * arrive, it stores the same values a second time.
     */
    public function beforeControllerAction()
    {
        $event = $this->getEvent();
        if ($event->get('controller') !== 'admin' || $event->get('action') !== 'database') {
            return;
        }
        $request = App()->getRequest();
        if (!$request->getIsPostRequest() || $request->getPost('action') !== 'updatesurveylocalesettings') {
            return;
        }
        $posted = $request->getPost('plugin');
        $mine = is_array($posted) ? ($posted[get_class($this)] ?? null) : null;
        if (is_array($mine)) {
            $this->saveSurveySettings((int) $request->getPost('sid'), $mine);
        }
    }

    /** @param array<string, mixed> $settings */
    private function saveSurveySettings(int $sid, array $settings): void
    {
        if ($sid <= 0 || !Permission::model()->hasSurveyPermission($sid, 'surveysettings', 'update')) {
            return;
        }
        foreach ($settings as $name => $value) {
            if (in_array($name, self::SURVEY_KEYS, true)) {
                $this->set($name, is_string($value) ? trim($value) : $value, 'Survey', $sid);
            }
        }
    }

    // ------------------------------------------------------------------ question attributes

    public function newQuestionAttributes()
    {
        $lang = $this->adminLanguage();
        $roles = ['' => '—'];
        foreach (QuestionRoles::ROLES as $role) {
            $roles[$role] = $role . ' · ' . Messages::text('role_' . $role, $lang);
        }
        $this->getEvent()->append('questionAttributes', [
            QuestionRoles::ROLE_ATTRIBUTE => [
                'types' => QuestionRoles::declaredTypes(),
                'category' => 'Pingyi',
                'sortorder' => 1,
                'inputtype' => 'singleselect',
                'options' => $roles,
                'default' => '',
                'caption' => Messages::text('attr_role', $lang),
                'help' => Messages::text('attr_role_help', $lang),
            ],
            QuestionRoles::DIMENSION_ATTRIBUTE => [
                'types' => QuestionRoles::declaredTypes(),
                'category' => 'Pingyi',
                'sortorder' => 2,
                'inputtype' => 'text',
                'default' => '',
                'caption' => Messages::text('attr_dimension', $lang),
                'help' => Messages::text('attr_dimension_help', $lang),
            ],
            QuestionRoles::SCALE_ATTRIBUTE => [
                'types' => QuestionRoles::LIST_TYPES . QuestionRoles::ARRAY_TYPES,
                'category' => 'Pingyi',
                'sortorder' => 3,
                'inputtype' => 'text',
                'default' => '',
                'caption' => Messages::text('attr_scale', $lang),
                'help' => Messages::text('attr_scale_help', $lang),
            ],
            QuestionRoles::CODE_MAP_ATTRIBUTE => [
                'types' => QuestionRoles::LIST_TYPES . QuestionRoles::ARRAY_TYPES,
                'category' => 'Pingyi',
                'sortorder' => 4,
                'inputtype' => 'textarea',
                'default' => '',
                'caption' => Messages::text('attr_code_map', $lang),
                'help' => Messages::text('attr_code_map_help', $lang),
            ],
        ]);
    }

    /** The question editor needs only content permission; Pingyi's tags need settings permission. */
    public function beforeQuestionAttributeSave()
    {
        $model = $this->getEvent()->get('model');
        if ($model === null || !in_array($model->attribute, QuestionRoles::ATTRIBUTES, true)) {
            return;
        }
        $question = Question::model()->findByPk($model->qid);
        if ($question === null || Permission::model()->hasSurveyPermission((int) $question->sid, 'surveysettings', 'update')) {
            return;
        }
        $stored = $model->isNewRecord ? null : QuestionAttribute::model()->findByPk($model->qaid);
        $model->value = $stored === null ? '' : $stored->value;
    }

    // ------------------------------------------------------------------ activation, completion

    public function beforeSurveyActivate()
    {
        $event = $this->getEvent();
        $sid = (int) $event->get('surveyId');
        $raw = $this->surveySettings($sid);
        if (empty($raw['enabled']) || !$this->get('block_activation', null, null, 1)) {
            return;
        }
        $cat = $this->catalogueCache()->get();
        $snapshot = (new SurveyReader())->read($sid, $raw);
        if ($snapshot === null) {
            return;
        }
        $problems = (new Validator())->validate($snapshot, $cat['catalogue'], $cat['error']);
        if (!Validator::hasErrors($problems)) {
            return;
        }
        $lang = Messages::lang($this->adminLanguage());
        $lines = [];
        foreach ($problems as $p) {
            if ($p['severity'] === 'error') {
                $lines[] = $p['message'][$lang];
            }
        }
        $event->set('success', false);
        $event->set('message', Messages::text('activation_blocked', $lang, ['problems' => implode(' ', $lines)]));
    }

    public function afterSurveyComplete()
    {
        // inside the respondent's request: nothing here may throw or wait
        try {
            $event = $this->getEvent();
            $sid = (int) $event->get('surveyId');
            $rid = (string) $event->get('responseId');
            $url = trim((string) $this->get('daemon_url', null, null, ''));
            $secret = (string) $this->get('secret', null, null, '');
            if ($url === '' || $secret === '' || $rid === '' || empty($this->surveySettings($sid)['enabled'])) {
                return;
            }
            $logger = function (string $message, string $level): void {
                $this->log($message, $level === 'warning' ? CLogger::LEVEL_WARNING : CLogger::LEVEL_INFO);
            };
            $site = (string) $this->get('site', null, null, '');
            $pause = new DaemonPause($url, $this->runtimeFolder());
            (new WebhookSender($url, new Signer($secret), null, $logger, WebhookSender::CONNECT_TIMEOUT, WebhookSender::TIMEOUT, $site, $pause))->sendAfterResponse($sid, $rid);
        } catch (Throwable $e) {
            $this->log('webhook not scheduled: ' . get_class($e), CLogger::LEVEL_WARNING);
        }
    }

    // ------------------------------------------------------------------ manifest endpoint

    public function newUnsecureRequest()
    {
        $event = $this->getEvent();
        if ($event->get('target') !== get_class($this) || $event->get('function') !== 'manifest') {
            return;
        }
        $request = App()->getRequest();
        $query = [
            'sid' => $request->getQuery('sid'),
            'ts' => $request->getQuery('ts'),
            'sig' => $request->getQuery('sig'),
        ];
        $secret = (string) $this->get('secret', null, null, '');
        try {
            $signer = new Signer($secret);
            $endpoint = new ManifestEndpoint($signer, new ManifestBuilder((string) $this->get('site', null, null, 'district')));
            $cat = $this->catalogueCache()->get();
            $reply = $endpoint->handle($query, function (int $sid): ?array {
                return (new SurveyReader())->read($sid, $this->surveySettings($sid));
            }, $cat['catalogue'], $cat['error']);
        } catch (SignatureException $e) {
            // no secret configured: refuse without saying more to an anonymous caller
            $reply = ['status' => 503, 'headers' => ['Content-Type' => 'application/json'], 'body' => '{"error":"plugin not configured"}'];
        }
        http_response_code($reply['status']);
        foreach ($reply['headers'] as $name => $value) {
            header($name . ': ' . $value);
        }
        echo $reply['body'];
        App()->end();
    }

    // ------------------------------------------------------------------ helpers

    /** @return array<string, mixed> */
    private function surveySettings(int $sid): array
    {
        $out = [];
        foreach (self::SURVEY_KEYS as $key) {
            $out[$key] = $this->get($key, 'Survey', $sid, null);
        }
        return $out;
    }

    private function catalogueCache(): CatalogueCache
    {
        $base = rtrim((string) $this->get('daemon_url', null, null, ''), '/');
        $url = trim((string) $this->get('catalogue_url', null, null, ''));
        return new CatalogueCache(
            $url !== '' ? $url : $base . '/catalogue.json',
            function () {
                return $this->get('catalogue_cache', null, null, null);
            },
            function (array $value): void {
                $this->set('catalogue_cache', $value);
            }
        );
    }

    /** LimeSurvey's runtime folder (the web server may write there), else null: PHP's temp folder. */
    private function runtimeFolder(): ?string
    {
        try {
            $path = (string) App()->getRuntimePath();
        } catch (Throwable $e) {
            return null;
        }
        return $path !== '' && is_dir($path) && is_writable($path) ? $path : null;
    }

    private function adminLanguage(): string
    {
        return (string) (App()->language ?? 'zh-Hans');
    }

    private static function mask(string $secret): string
    {
        return str_repeat('•', 8) . ' (' . mb_strlen($secret) . ')';
    }
}
