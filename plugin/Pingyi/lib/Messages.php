<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * The plugin's texts in Chinese and English. An array, not .mo files: a designer sees
 * both languages side by side, and the tests can check that every key has both.
 */
final class Messages
{
    /** @var array<string, array{zh: string, en: string}> */
    public const TEXTS = [
        // validation problems ({q} = question code, {code} = an answer/unit/dimension code)
        'not_enabled' => [
            'zh' => '本问卷未启用评议同步。',
            'en' => 'Pingyi is not enabled for this survey.',
        ],
        'catalogue_unavailable' => [
            'zh' => '无法读取评议目录（{detail}），编码无法核对。',
            'en' => 'The catalogue could not be read ({detail}); codes were not checked.',
        ],
        'campaign_missing' => [
            'zh' => '未选择评议活动（年度）。',
            'en' => 'No campaign chosen.',
        ],
        'campaign_unknown' => [
            'zh' => '评议活动“{code}”不在目录中。',
            'en' => 'Campaign "{code}" is not in the catalogue.',
        ],
        'group_missing' => [
            'zh' => '未选择评议主体（答卷人群体）。',
            'en' => 'No respondent group chosen.',
        ],
        'group_unknown' => [
            'zh' => '评议主体“{code}”不在目录中。',
            'en' => 'Respondent group "{code}" is not in the catalogue.',
        ],
        'group_not_in_campaign' => [
            'zh' => '评议主体“{code}”不属于评议活动“{campaign}”。',
            'en' => 'Respondent group "{code}" does not take part in campaign "{campaign}".',
        ],
        'unit_source_missing' => [
            'zh' => '未指定被评单位来源：请选择固定单位，或把一道单选题的角色设为“被评单位”。',
            'en' => 'No unit source: choose a fixed unit, or give one list question the role "unit".',
        ],
        'unit_fixed_missing' => [
            'zh' => '单位来源为“固定单位”，但未选择单位。',
            'en' => 'Unit source is "fixed" but no unit is chosen.',
        ],
        'unit_fixed_unknown' => [
            'zh' => '固定单位“{code}”不在目录中。',
            'en' => 'Fixed unit "{code}" is not in the catalogue.',
        ],
        'unit_question_many' => [
            'zh' => '题目“{q}”也标为“被评单位”：只能有一道题担任此角色。',
            'en' => 'Question "{q}" also has the role "unit"; only one question may.',
        ],
        'unit_question_and_fixed' => [
            'zh' => '单位来源为“固定单位”，题目“{q}”却标为“被评单位”。',
            'en' => 'Unit source is "fixed" but question "{q}" has the role "unit".',
        ],
        'unit_code_unknown' => [
            'zh' => '题目“{q}”的选项编码“{code}”不是目录中的单位编码。',
            'en' => 'Question "{q}": answer code "{code}" is not a unit code in the catalogue.',
        ],
        'unit_code_too_long' => [
            'zh' => '题目“{q}”的选项编码“{code}”超过5个字符（LimeSurvey 选项编码最长5个字符）。',
            'en' => 'Question "{q}": answer code "{code}" is longer than 5 characters (LimeSurvey\'s limit).',
        ],
        'role_not_for_type' => [
            'zh' => '题目“{q}”的题型（{type}）不能担任角色“{role}”。',
            'en' => 'Question "{q}" (type {type}) cannot have the role "{role}".',
        ],
        'role_unknown' => [
            'zh' => '题目“{q}”的角色“{role}”无效。',
            'en' => 'Question "{q}": unknown role "{role}".',
        ],
        'rated_without_dimension' => [
            'zh' => '评分题“{q}”未指定评议维度。',
            'en' => 'Rated question "{q}" has no dimension.',
        ],
        'row_without_dimension' => [
            'zh' => '评分矩阵题“{q}”的子问题“{code}”未指定评议维度。',
            'en' => 'Rated array "{q}": subquestion "{code}" has no dimension.',
        ],
        'row_unknown' => [
            'zh' => '评分矩阵题“{q}”的维度设置提到了不存在的子问题“{code}”。',
            'en' => 'Rated array "{q}": the dimension setting names subquestion "{code}", which does not exist.',
        ],
        'dimension_syntax' => [
            'zh' => '题目“{q}”的维度设置无法解析：“{code}”。请写一个维度编码，或写成 SQ001=维度编码; SQ002=维度编码。',
            'en' => 'Question "{q}": cannot read the dimension setting "{code}". Write one dimension code, or SQ001=code; SQ002=code.',
        ],
        'dimension_unknown' => [
            'zh' => '题目“{q}”的评议维度“{code}”不在目录中。',
            'en' => 'Question "{q}": dimension "{code}" is not in the catalogue.',
        ],
        'answer_outside_scale' => [
            'zh' => '评分题“{q}”的选项编码“{code}”不在量表“{scale}”中。',
            'en' => 'Rated question "{q}": answer code "{code}" is not on scale "{scale}".',
        ],
        'mapped_answer_outside_scale' => [
            'zh' => '评分题“{q}”的选项编码“{code}”按编码对照映射为“{mapped}”，不在量表“{scale}”中。',
            'en' => 'Rated question "{q}": answer code "{code}" maps to "{mapped}", which is not on scale "{scale}".',
        ],
        'mapped_unit_code_unknown' => [
            'zh' => '题目“{q}”的选项编码“{code}”按编码对照映射为“{mapped}”，不是目录中的单位编码。',
            'en' => 'Question "{q}": answer code "{code}" maps to "{mapped}", which is not a unit code in the catalogue.',
        ],
        'scale_unknown' => [
            'zh' => '评分题“{q}”的量表“{code}”不在目录中。',
            'en' => 'Rated question "{q}": scale "{code}" is not in the catalogue.',
        ],
        'scale_syntax' => [
            'zh' => '题目“{q}”的量表设置“{code}”不是量表编码（字母、数字、_ . -，最长40个字符）。',
            'en' => 'Question "{q}": the scale setting "{code}" is not a scale code (letters, digits, _ . -, up to 40).',
        ],
        'code_map_syntax' => [
            'zh' => '题目“{q}”的编码对照无法解析：“{code}”。请写成 选项编码=目标编码，用分号分隔，如 1=A1; 2=A2（两边都是最长5位的字母或数字）。',
            'en' => 'Question "{q}": cannot read the code map piece "{code}". Write answer=target pairs separated by ";", e.g. 1=A1; 2=A2 (each side up to 5 letters or digits).',
        ],
        'code_map_unused' => [
            'zh' => '题目“{q}”的编码对照提到了不存在的选项编码“{code}”。',
            'en' => 'Question "{q}": the code map names answer code "{code}", which the question does not have.',
        ],
        'code_map_not_used' => [
            'zh' => '题目“{q}”的角色为“{role}”：量表只用于评分题，编码对照只用于评分题和被评单位题；此处的设置已忽略。',
            'en' => 'Question "{q}" has the role "{role}": a scale applies only to rated questions, a code map only to rated and unit questions; the setting here is ignored.',
        ],
        'no_answers' => [
            'zh' => '评分题“{q}”没有选项。',
            'en' => 'Rated question "{q}" has no answer options.',
        ],
        'no_rated_question' => [
            'zh' => '没有任何题目的角色为“评分”。',
            'en' => 'No question has the role "rated".',
        ],
        // settings and UI
        'setting_daemon_url' => ['zh' => '同步服务地址', 'en' => 'Sync daemon URL'],
        'setting_daemon_url_help' => [
            'zh' => '例如 http://10.0.0.5:8765 ，完成答卷时通知 {url}/webhook。',
            'en' => 'e.g. http://10.0.0.5:8765; completions are announced to {url}/webhook.',
        ],
        'setting_secret' => ['zh' => '共享密钥', 'en' => 'Shared secret'],
        'setting_secret_help_set' => [
            'zh' => '已设置（{masked}）。留空则保持不变。',
            'en' => 'Set ({masked}). Leave empty to keep it.',
        ],
        'setting_secret_help_unset' => [
            'zh' => '尚未设置。与同步服务配置中的 webhook 密钥相同。',
            'en' => 'Not set. The same as the daemon\'s webhook secret.',
        ],
        'setting_site' => ['zh' => '站点名称', 'en' => 'Site name'],
        'setting_site_help' => [
            'zh' => '与 pingyi.toml 中本 LimeSurvey 的站点名称一致。',
            'en' => 'The name of this LimeSurvey site in pingyi.toml.',
        ],
        'setting_catalogue_url' => ['zh' => '目录来源', 'en' => 'Catalogue source'],
        'setting_catalogue_url_help' => [
            'zh' => '留空则使用 {url}/catalogue.json。',
            'en' => 'Empty means {url}/catalogue.json.',
        ],
        'setting_refresh' => ['zh' => '保存时刷新目录', 'en' => 'Refresh the catalogue on save'],
        'setting_block' => ['zh' => '设置有误时禁止激活问卷', 'en' => 'Block activation while invalid'],
        'catalogue_status' => [
            'zh' => '目录：{count} 个单位，更新于 {when}。',
            'en' => 'Catalogue: {count} units, fetched {when}.',
        ],
        'catalogue_never' => ['zh' => '目录尚未读取。', 'en' => 'Catalogue not fetched yet.'],
        'survey_enabled' => ['zh' => '启用评议同步', 'en' => 'Enable Pingyi'],
        'survey_campaign' => ['zh' => '评议活动', 'en' => 'Campaign'],
        'survey_group' => ['zh' => '评议主体', 'en' => 'Respondent group'],
        'survey_unit_source' => ['zh' => '被评单位来源', 'en' => 'Unit source'],
        'survey_unit_source_question' => [
            'zh' => '由一道单选题给出（角色“被评单位”）',
            'en' => 'A list question (role "unit")',
        ],
        'survey_unit_source_fixed' => ['zh' => '固定单位', 'en' => 'Fixed unit'],
        'survey_unit' => ['zh' => '固定单位', 'en' => 'Fixed unit'],
        'survey_token' => ['zh' => '令牌处理', 'en' => 'Token'],
        'survey_token_drop' => ['zh' => '不保存', 'en' => 'Drop'],
        'survey_token_hash' => ['zh' => '仅保存加密散列（查重）', 'en' => 'Keyed hash only (duplicates)'],
        'validation_title' => ['zh' => '评议设置检查', 'en' => 'Pingyi check'],
        'validation_ok' => ['zh' => '设置完整，同步服务可以接收本问卷。', 'en' => 'Complete: the daemon will accept this survey.'],
        'activation_blocked' => [
            'zh' => '评议设置有误，问卷未激活：{problems}',
            'en' => 'Pingyi settings are invalid, survey not activated: {problems}',
        ],
        'attr_role' => ['zh' => '评议角色', 'en' => 'Pingyi role'],
        'attr_role_help' => [
            'zh' => '评分：计入评议维度；被评单位：选项编码为单位编码；意见：文字意见；隐私：从不复制。',
            'en' => 'rated: scores a dimension; unit: answer codes are unit codes; comment: free text; private: never copied.',
        ],
        'attr_dimension' => ['zh' => '评议维度', 'en' => 'Pingyi dimension'],
        'attr_dimension_help' => [
            'zh' => '维度编码；矩阵题可逐行写：SQ001=attitude; SQ002=efficiency。',
            'en' => 'A dimension code; for arrays per row: SQ001=attitude; SQ002=efficiency.',
        ],
        'attr_scale' => ['zh' => '评议量表', 'en' => 'Pingyi scale'],
        'attr_scale_help' => [
            'zh' => '评分题使用的量表编码；留空则使用评议活动的量表。',
            'en' => 'The scale code of a rated question; empty: the campaign\'s scale.',
        ],
        'attr_code_map' => ['zh' => '评议编码对照', 'en' => 'Pingyi code map'],
        'attr_code_map_help' => [
            'zh' => '选项编码与目录编码不同时填写：评分题写 选项编码=量表等级编码，被评单位题写 选项编码=单位编码，如 1=A1; 2=A2。',
            'en' => 'When answer codes differ from the catalogue\'s: answer=scale level for a rated question, answer=unit code for the unit question, e.g. 1=A1; 2=A2.',
        ],
        'role_rated' => ['zh' => '评分', 'en' => 'rated'],
        'role_unit' => ['zh' => '被评单位', 'en' => 'unit'],
        'role_comment' => ['zh' => '意见', 'en' => 'comment'],
        'role_private' => ['zh' => '隐私（不复制）', 'en' => 'private (never copied)'],
        'role_ignored' => ['zh' => '忽略', 'en' => 'ignored'],
    ];

    /** @param array<string, string|int> $params */
    public static function text(string $key, string $lang, array $params = []): string
    {
        $entry = self::TEXTS[$key] ?? ['zh' => $key, 'en' => $key];
        $text = $entry[self::lang($lang)];
        $replace = [];
        foreach ($params as $name => $value) {
            $replace['{' . $name . '}'] = (string) $value;
        }
        return strtr($text, $replace);
    }

    /**
     * Both languages: what a validation problem carries.
     *
     * @param array<string, string|int> $params
     * @return array{zh: string, en: string}
     */
    public static function both(string $key, array $params = []): array
    {
        return ['zh' => self::text($key, 'zh', $params), 'en' => self::text($key, 'en', $params)];
    }

    /** LimeSurvey language codes (zh-Hans, zh-Hant-TW, en, de...) to ours; Chinese unless English. */
    public static function lang(string $lang): string
    {
        return strncasecmp($lang, 'en', 2) === 0 ? 'en' : 'zh';
    }
}
