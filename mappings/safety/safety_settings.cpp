#include "mappings/safety/safety_settings.h"

#include "mappings/tables/tables.h"

namespace inloop::mappings {

namespace {

bool isAllowed(std::string_view name, std::string_view allowed) {
  while (!allowed.empty()) {
    std::size_t space = allowed.find(' ');
    std::string_view word = allowed.substr(0, space);
    if (word == name) return true;
    if (space == std::string_view::npos) break;
    allowed.remove_prefix(space + 1);
  }
  return false;
}

}  // namespace

const SafetyTemplateSpec* findSafetyTemplate(std::string_view rule, std::string_view key) {
  for (const SafetyTemplateSpec& t : kSafetyTemplates) {
    if (t.rule == rule && t.key == key) return &t;
  }
  return nullptr;
}

std::vector<std::string> badPlaceholders(std::string_view text, std::string_view allowed) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '}') {
      out.emplace_back("}");
      ++i;
      continue;
    }
    if (c != '{') {
      ++i;
      continue;
    }
    std::size_t close = text.find_first_of("{}", i + 1);
    if (close == std::string_view::npos || text[close] == '{') {
      out.emplace_back("{");
      ++i;
      continue;
    }
    std::string_view name = text.substr(i + 1, close - i - 1);
    if (!isAllowed(name, allowed) || name.empty()) out.push_back("{" + std::string(name) + "}");
    i = close + 1;
  }
  return out;
}

std::string renderTemplate(std::string_view text,
                           const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  out.reserve(text.size() + 64);
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      std::size_t close = text.find('}', i + 1);
      if (close != std::string_view::npos) {
        std::string_view name = text.substr(i + 1, close - i - 1);
        const std::string* value = nullptr;
        for (const auto& [k, v] : values) {
          if (k == name) value = &v;
        }
        if (value) {
          out += *value;
          i = close + 1;
          continue;
        }
      }
    }
    out += text[i++];
  }
  return out;
}

bool SafetySettings::enabled(std::string_view rule) const {
  if (rule == kAlwaysOnRule) return true;
  auto it = rules.find(rule);
  return it == rules.end() ? true : it->second.enabled;
}

std::string_view SafetySettings::text(std::string_view rule, std::string_view key) const {
  auto it = rules.find(rule);
  if (it != rules.end()) {
    auto w = it->second.wording.find(key);
    if (w != it->second.wording.end()) return w->second;
  }
  const SafetyTemplateSpec* spec = findSafetyTemplate(rule, key);
  return spec ? spec->text : std::string_view();
}

SafetySettings defaultSafetySettings() {
  SafetySettings s;
  for (std::string_view id : kSafetyRuleIds) s.rules[std::string(id)];
  for (const SafetyTemplateSpec& t : kSafetyTemplates) {
    s.rules[std::string(t.rule)].wording[std::string(t.key)] = std::string(t.text);
  }
  return s;
}

const SafetySettings& MappingTables::safetySettingsFor(std::string_view practiceId) const {
  if (const Practice* p = findPractice(practiceId); p && p->safety) return *p->safety;
  return safety;
}

}  // namespace inloop::mappings
