<?php

declare(strict_types=1);

namespace Pingyi;

/**
 * Reads one survey out of LimeSurvey's models into the plain snapshot the Validator and
 * the ManifestBuilder take. The only lib class that touches LimeSurvey, through a few
 * model calls (findByPk, findAllByAttributes, resetScope) that the tests replace with a stand-in.
 */
final class SurveyReader
{
    /**
     * @param array<string, mixed> $settings the survey's Pingyi settings (plugin storage)
     * @return array<string, mixed>|null null when the survey does not exist
     */
    public function read(int $sid, array $settings): ?array
    {
        $survey = \Survey::model()->findByPk($sid);
        if ($survey === null) {
            return null;
        }
        $title = null;
        $lang = $survey->correct_relation_defaultlanguage ?? null;
        if ($lang !== null) {
            $title = (string) $lang->surveyls_title;
        }

        $groupOrder = [];
        foreach (\QuestionGroup::model()->findAllByAttributes(['sid' => $sid], ['order' => 'group_order ASC']) as $i => $g) {
            $groupOrder[(int) $g->gid] = $i;
        }
        $all = \Question::model()->findAllByAttributes(['sid' => $sid], ['order' => 'question_order ASC']);
        $parents = [];
        $subs = [];
        foreach ($all as $q) {
            if ((int) $q->parent_qid === 0) {
                $parents[] = $q;
            } elseif ((int) ($q->scale_id ?? 0) === 0) {
                // scale 1 subquestions (dual-scale, array of texts) are not rows of a rating
                $subs[(int) $q->parent_qid][] = (string) $q->title;
            }
        }
        usort($parents, static function ($a, $b) use ($groupOrder): int {
            return [$groupOrder[(int) $a->gid] ?? PHP_INT_MAX, (int) $a->question_order]
                <=> [$groupOrder[(int) $b->gid] ?? PHP_INT_MAX, (int) $b->question_order];
        });
        $qids = array_map(static function ($q): int {
            return (int) $q->qid;
        }, $parents);

        $answers = [];
        $attributes = [];
        if ($qids) {
            foreach (\Answer::model()->findAllByAttributes(['qid' => $qids, 'scale_id' => 0], ['order' => 'sortorder ASC']) as $a) {
                $answers[(int) $a->qid][] = (string) $a->code;
            }
            $names = QuestionRoles::ATTRIBUTES;
            // resetScope(): QuestionAttribute's default scope indexes rows by attribute name,
            // which keeps one question's pingyiRole out of all (seen on a real 6.2.1)
            $found = \QuestionAttribute::model()->resetScope()->findAllByAttributes(['qid' => $qids, 'attribute' => $names]);
            foreach ($found as $attr) {
                // non-i18n attributes have language null or ''; keep the first value met
                $attributes[(int) $attr->qid][(string) $attr->attribute] ??= (string) $attr->value;
            }
        }

        $questions = [];
        foreach ($parents as $q) {
            $qid = (int) $q->qid;
            $questions[] = [
                'qid' => $qid,
                'code' => (string) $q->title,
                'type' => (string) $q->type,
                'role' => $attributes[$qid][QuestionRoles::ROLE_ATTRIBUTE] ?? '',
                'dimension' => $attributes[$qid][QuestionRoles::DIMENSION_ATTRIBUTE] ?? '',
                'scale' => $attributes[$qid][QuestionRoles::SCALE_ATTRIBUTE] ?? '',
                'code_map' => $attributes[$qid][QuestionRoles::CODE_MAP_ATTRIBUTE] ?? '',
                'answers' => $answers[$qid] ?? [],
                'subquestions' => $subs[$qid] ?? [],
            ];
        }
        return [
            'sid' => $sid,
            'title' => $title,
            'settings' => self::settings($settings),
            'questions' => $questions,
        ];
    }

    /**
     * Plugin storage hands back whatever was saved (strings from forms, JSON-decoded);
     * this is the one place that turns it into the snapshot's types.
     *
     * @param array<string, mixed> $raw
     * @return array<string, mixed>
     */
    public static function settings(array $raw): array
    {
        $source = (string) ($raw['unit_source'] ?? '');
        return [
            'enabled' => in_array($raw['enabled'] ?? false, [true, 1, '1', 'Y', 'yes'], true),
            'campaign' => trim((string) ($raw['campaign'] ?? '')),
            'group' => trim((string) ($raw['group'] ?? '')),
            'unit_source' => in_array($source, ['question', 'fixed'], true) ? $source : '',
            'unit' => trim((string) ($raw['unit'] ?? '')),
            'token' => ($raw['token'] ?? 'drop') === 'hash' ? 'hash' : 'drop',
        ];
    }
}
