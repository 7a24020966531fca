#pragma once

#include <vector>

#include <caf/type_id.hpp>

#include "messages/interfaces.hpp"
#include "messages/status.hpp"
#include "messages/types.hpp"

// The types tasker sends in messages. Types that cross nodes (the wire
// protocol) keep their names; append new types at the end.
CAF_BEGIN_TYPE_ID_BLOCK(tasker, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(tasker, (tasker::task_status))
  CAF_ADD_TYPE_ID(tasker, (tasker::task_record))
  CAF_ADD_TYPE_ID(tasker, (std::vector<tasker::task_record>))
  CAF_ADD_TYPE_ID(tasker, (tasker::submit_reply))
  CAF_ADD_TYPE_ID(tasker, (tasker::task_assignment))
  CAF_ADD_TYPE_ID(tasker, (tasker::task_outcome))
  CAF_ADD_TYPE_ID(tasker, (tasker::node_info))
  CAF_ADD_TYPE_ID(tasker, (tasker::list_query))
  CAF_ADD_TYPE_ID(tasker, (tasker::task_page))
  CAF_ADD_TYPE_ID(tasker, (tasker::write_batch))
  CAF_ADD_TYPE_ID(tasker, (tasker::insert_status))
  CAF_ADD_TYPE_ID(tasker, (tasker::insert_result))
  CAF_ADD_TYPE_ID(tasker, (tasker::batch_outcome))
  CAF_ADD_TYPE_ID(tasker, (tasker::node_actor))
  CAF_ADD_TYPE_ID(tasker, (tasker::task_actor))
  CAF_ADD_TYPE_ID(tasker, (tasker::dispatcher_actor))
  CAF_ADD_TYPE_ID(tasker, (std::vector<tasker::task_assignment>))
  CAF_ADD_TYPE_ID(tasker, (std::vector<tasker::task_outcome>))
  CAF_ADD_TYPE_ID(tasker, (tasker::manager_status))
  CAF_ADD_TYPE_ID(tasker, (tasker::dispatcher_status))
  CAF_ADD_TYPE_ID(tasker, (tasker::persistence_status))
  CAF_ADD_TYPE_ID(tasker, (tasker::worker_view))
  CAF_ADD_TYPE_ID(tasker, (std::vector<tasker::worker_view>))
  CAF_ADD_TYPE_ID(tasker, (tasker::leased_task))
  CAF_ADD_TYPE_ID(tasker, (std::vector<tasker::leased_task>))
  CAF_ADD_TYPE_ID(tasker, (tasker::pull_hub_actor))
  CAF_ADD_TYPE_ID(tasker, (tasker::task_event_record))
  CAF_ADD_TYPE_ID(tasker, (std::vector<tasker::task_event_record>))
  CAF_ADD_TYPE_ID(tasker, (tasker::event_position))
  CAF_ADD_TYPE_ID(tasker, (tasker::task_history))
  CAF_ADD_TYPE_ID(tasker, (tasker::stats_row))
  CAF_ADD_TYPE_ID(tasker, (std::vector<tasker::stats_row>))
CAF_END_TYPE_ID_BLOCK(tasker)
